using Lifeline.Cli.Parsing;

namespace Lifeline.Cli.Tests;

public class SizeParserTests
{
    [Theory]
    [InlineData("65536", 65_536)]
    [InlineData("1000", 1_000)]
    [InlineData("0", 0)]
    [InlineData("512B", 512)]
    [InlineData("64KiB", 65_536)]
    [InlineData("64kib", 65_536)]
    [InlineData("1MiB", 1_048_576)]
    [InlineData("16 MiB", 16_777_216)]
    [InlineData(" 2KiB ", 2_048)]
    [InlineData("2047MiB", 2_146_435_072)]
    public void Parses(string text, int expected)
    {
        Assert.True(SizeParser.TryParse(text, out var value, out var error), error);
        Assert.Equal(expected, value);
        Assert.Equal(expected, SizeParser.Parse(text));
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("64KB", "KiB or MiB")]
    [InlineData("64k", "KiB or MiB")]
    [InlineData("1MB", "KiB or MiB")]
    [InlineData("1GiB", "unknown unit 'GiB'")]
    [InlineData("64XiB", "unknown unit")]
    [InlineData("-1", "not a whole non-negative number")]
    [InlineData("1.5MiB", "not a whole non-negative number")]
    [InlineData("KiB", "not a whole non-negative number")]
    [InlineData("2048MiB", "too large")]
    [InlineData("99999999999999999999", "not a whole non-negative number")]
    public void RefusesWithAClearMessage(string text, string expectedInMessage)
    {
        Assert.False(SizeParser.TryParse(text, out _, out var error));
        Assert.Contains(expectedInMessage, error, StringComparison.Ordinal);
        Assert.Throws<FormatException>(() => SizeParser.Parse(text));
    }

    [Theory]
    [InlineData(65_536, "64KiB")]
    [InlineData(1_048_576, "1MiB")]
    [InlineData(1_000, "1000")]
    [InlineData(0, "0")]
    public void FormatsWhatItParses(int bytes, string expected)
    {
        Assert.Equal(expected, SizeParser.Format(bytes));
        Assert.Equal(bytes, SizeParser.Parse(expected));
    }
}
