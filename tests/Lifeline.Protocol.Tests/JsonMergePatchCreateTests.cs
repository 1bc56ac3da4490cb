using System.Text.Json;
using System.Text.Json.Nodes;

namespace Lifeline.Protocol.Tests;

/// <summary><see cref="JsonMergePatch.Create"/>: the diff whose application gives the target (RFC 7396 Appendix A pairs).</summary>
public sealed class JsonMergePatchCreateTests
{
    private static JsonElement ToElement(JsonNode? node)
    {
        using var document = JsonDocument.Parse(node?.ToJsonString() ?? "null");
        return document.RootElement.Clone();
    }

    private static void AssertJson(string expected, JsonNode? actual) =>
        Assert.True(
            JsonNode.DeepEquals(JsonNode.Parse(expected), actual),
            $"expected {expected}, got {actual?.ToJsonString() ?? "null"}");

    // Each RFC 7396 Appendix A example (original, result) and the smallest patch between them. Where the RFC's own
    // patch carries more than needed (a null for a member that is absent anyway), the smallest patch differs.
    [Theory]
    [InlineData("""{"a":"b"}""", """{"a":"c"}""", """{"a":"c"}""")]
    [InlineData("""{"a":"b"}""", """{"a":"b","b":"c"}""", """{"b":"c"}""")]
    [InlineData("""{"a":"b"}""", """{}""", """{"a":null}""")]
    [InlineData("""{"a":"b","b":"c"}""", """{"b":"c"}""", """{"a":null}""")]
    [InlineData("""{"a":["b"]}""", """{"a":"c"}""", """{"a":"c"}""")]
    [InlineData("""{"a":"c"}""", """{"a":["b"]}""", """{"a":["b"]}""")]
    [InlineData("""{"a":{"b":"c"}}""", """{"a":{"b":"d"}}""", """{"a":{"b":"d"}}""")]
    [InlineData("""{"a":[{"b":"c"}]}""", """{"a":[1]}""", """{"a":[1]}""")]
    [InlineData("""["a","b"]""", """["c","d"]""", """["c","d"]""")]
    [InlineData("""{"a":"b"}""", """["c"]""", """["c"]""")]
    [InlineData("""{"a":"foo"}""", """null""", """null""")]
    [InlineData("""{"a":"foo"}""", "\"bar\"", "\"bar\"")]
    [InlineData("""{"e":null}""", """{"e":null,"a":1}""", """{"a":1}""")]
    [InlineData("""[1,2]""", """{"a":"b"}""", """{"a":"b"}""")]
    [InlineData("""{}""", """{"a":{"bb":{}}}""", """{"a":{"bb":{}}}""")]
    public void Rfc7396AppendixA_TheSmallestPatch_AndApplyingItGivesTheResult(string original, string result, string expectedPatch)
    {
        var patch = JsonMergePatch.Create(JsonNode.Parse(original), JsonNode.Parse(result));

        AssertJson(expectedPatch, patch);
        AssertJson(result, JsonMergePatch.Apply(JsonNode.Parse(original), ToElement(patch)));
    }

    [Fact]
    public void Rfc7396Section3Example_RoundTrips()
    {
        const string Before = """{"title":"Goodbye!","author":{"givenName":"John","familyName":"Doe"},"tags":["example","sample"],"content":"This will be unchanged"}""";
        const string After = """{"title":"Hello!","author":{"givenName":"John"},"tags":["example"],"content":"This will be unchanged","phoneNumber":"+01-123-456-7890"}""";

        var patch = JsonMergePatch.Create(JsonNode.Parse(Before), JsonNode.Parse(After));

        AssertJson("""{"title":"Hello!","phoneNumber":"+01-123-456-7890","author":{"familyName":null},"tags":["example"]}""", patch);
        AssertJson(After, JsonMergePatch.Apply(JsonNode.Parse(Before), ToElement(patch)));
    }

    [Fact]
    public void EqualDocuments_GiveAnEmptyPatch_AndTheInputsAreNotModified()
    {
        var from = JsonNode.Parse("""{"a":{"b":[1,2]},"c":"x"}""");
        var to = JsonNode.Parse("""{"c":"x","a":{"b":[1,2]}}""");

        AssertJson("{}", JsonMergePatch.Create(from, to));
        AssertJson("""{"a":{"b":[1,2]},"c":"x"}""", from);
        AssertJson("""{"c":"x","a":{"b":[1,2]}}""", to);
    }

    [Fact]
    public void AnAppendToAnArray_SendsTheWholeArray()
    {
        var patch = JsonMergePatch.Create(JsonNode.Parse("""{"items":[1,2],"n":2}"""), JsonNode.Parse("""{"items":[1,2,3],"n":2}"""));
        AssertJson("""{"items":[1,2,3]}""", patch);
    }

    [Fact]
    public void ANullMember_ComesOutAsARemoval()
    {
        // RFC 7396 cannot say "a member whose value is null": the patch removes it.
        var patch = JsonMergePatch.Create(JsonNode.Parse("""{"a":1}"""), JsonNode.Parse("""{"a":null}"""));
        AssertJson("""{"a":null}""", patch);
        AssertJson("{}", JsonMergePatch.Apply(JsonNode.Parse("""{"a":1}"""), ToElement(patch)));
    }
}
