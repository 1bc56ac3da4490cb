using Lifeline.Cli.Parsing;

namespace Lifeline.Cli.Tests;

public class DurationParserTests
{
    [Theory]
    [InlineData("500ms", 500)]
    [InlineData("5s", 5_000)]
    [InlineData("2m", 120_000)]
    [InlineData("1h", 3_600_000)]
    [InlineData("1.5s", 1_500)]
    [InlineData("0.25ms", 0.25)]
    [InlineData("0s", 0)]
    [InlineData(" 30s ", 30_000)]
    [InlineData("10 s", 10_000)]
    [InlineData("5S", 5_000)]
    [InlineData("250MS", 250)]
    [InlineData("00:00:05", 5_000)]
    [InlineData("00:00:00.500", 500)]
    [InlineData("01:30:00", 5_400_000)]
    [InlineData("1.00:00:00", 86_400_000)]
    public void Parses(string text, double expectedMs)
    {
        Assert.True(DurationParser.TryParse(text, out var value, out var error), error);
        Assert.Null(error);
        Assert.Equal(TimeSpan.FromMilliseconds(expectedMs), value);
        Assert.Equal(value, DurationParser.Parse(text));
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("   ", "empty")]
    [InlineData(null, "empty")]
    [InlineData("5", "no unit")]
    [InlineData("500", "no unit")]
    [InlineData("5x", "unknown unit 'x'")]
    [InlineData("5sec", "unknown unit 'sec'")]
    [InlineData("5d", "unknown unit 'd'")]
    [InlineData("ms", "no number")]
    [InlineData("-5s", "negative")]
    [InlineData("1e3s", "not a number")]
    [InlineData("five s", "not a number")]
    [InlineData("1,5s", "not a number")]
    [InlineData("99999999999999h", "too long")]
    [InlineData("00:00:xx", "not a duration")]
    [InlineData("-00:00:05", "negative")]
    public void RefusesWithAClearMessage(string? text, string expectedInMessage)
    {
        Assert.False(DurationParser.TryParse(text, out _, out var error));
        Assert.NotNull(error);
        Assert.Contains(expectedInMessage, error, StringComparison.Ordinal);
        var ex = Assert.Throws<FormatException>(() => DurationParser.Parse(text!));
        Assert.Equal(error, ex.Message);
    }

    [Fact]
    public void MessagesSayWhatIsExpected()
    {
        DurationParser.TryParse("5", out _, out var error);
        Assert.Contains("5s", error, StringComparison.Ordinal);
        Assert.Contains("500ms", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(30_000, "30s")]
    [InlineData(500, "500ms")]
    [InlineData(120_000, "2m")]
    [InlineData(3_600_000, "1h")]
    [InlineData(1_500, "1500ms")]
    [InlineData(0, "0ms")]
    public void FormatsWhatItParses(double ms, string expected)
    {
        var value = TimeSpan.FromMilliseconds(ms);
        Assert.Equal(expected, DurationParser.Format(value));
        Assert.Equal(value, DurationParser.Parse(expected));
    }
}
