using System.Text.Json;
using System.Text.Json.Nodes;

namespace Lifeline.Protocol.Tests;

/// <summary>JSON Merge Patch against RFC 7396: the Appendix A examples and the section 3 example.</summary>
public sealed class JsonMergePatchTests
{
    private static JsonElement J(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }

    private static void AssertJson(string expected, JsonNode? actual) =>
        Assert.True(
            JsonNode.DeepEquals(JsonNode.Parse(expected), actual),
            $"expected {expected}, got {actual?.ToJsonString() ?? "null"}");

    [Theory]
    [InlineData("""{"a":"b"}""", """{"a":"c"}""", """{"a":"c"}""")]
    [InlineData("""{"a":"b"}""", """{"b":"c"}""", """{"a":"b","b":"c"}""")]
    [InlineData("""{"a":"b"}""", """{"a":null}""", """{}""")]
    [InlineData("""{"a":"b","b":"c"}""", """{"a":null}""", """{"b":"c"}""")]
    [InlineData("""{"a":["b"]}""", """{"a":"c"}""", """{"a":"c"}""")]
    [InlineData("""{"a":"c"}""", """{"a":["b"]}""", """{"a":["b"]}""")]
    [InlineData("""{"a":{"b":"c"}}""", """{"a":{"b":"d","c":null}}""", """{"a":{"b":"d"}}""")]
    [InlineData("""{"a":[{"b":"c"}]}""", """{"a":[1]}""", """{"a":[1]}""")]
    [InlineData("""["a","b"]""", """["c","d"]""", """["c","d"]""")]
    [InlineData("""{"a":"b"}""", """["c"]""", """["c"]""")]
    [InlineData("""{"a":"foo"}""", """null""", """null""")]
    [InlineData("""{"a":"foo"}""", "\"bar\"", "\"bar\"")]
    [InlineData("""{"e":null}""", """{"a":1}""", """{"e":null,"a":1}""")]
    [InlineData("""[1,2]""", """{"a":"b","c":null}""", """{"a":"b"}""")]
    [InlineData("""{}""", """{"a":{"bb":{"ccc":null}}}""", """{"a":{"bb":{}}}""")]
    public void Rfc7396AppendixA(string original, string patch, string result)
    {
        AssertJson(result, JsonMergePatch.Apply(JsonNode.Parse(original), J(patch)));
    }

    [Fact]
    public void Rfc7396Section3Example()
    {
        var target = JsonNode.Parse("""
            {"title":"Goodbye!","author":{"givenName":"John","familyName":"Doe"},"tags":["example","sample"],"content":"This will be unchanged"}
            """);
        var patch = J("""
            {"title":"Hello!","phoneNumber":"+01-123-456-7890","author":{"familyName":null},"tags":["example"]}
            """);

        AssertJson(
            """{"title":"Hello!","author":{"givenName":"John"},"tags":["example"],"content":"This will be unchanged","phoneNumber":"+01-123-456-7890"}""",
            JsonMergePatch.Apply(target, patch));
    }

    [Fact]
    public void Apply_ToNothing_BuildsTheObjectWithoutNulls()
    {
        AssertJson("""{"a":{"b":{}}}""", JsonMergePatch.Apply(null, J("""{"a":{"b":{"c":null}},"d":null}""")));
    }

    [Fact]
    public void ApplyToObject_ChangesTheStateInPlace_AndKeepsNullsInsideArrays()
    {
        var state = new JsonObject { ["keep"] = 1, ["drop"] = 2, ["nested"] = new JsonObject { ["x"] = 1 } };

        JsonMergePatch.ApplyToObject(state, J("""{"drop":null,"nested":{"y":2},"list":[null,{"z":null}]}"""));

        AssertJson("""{"keep":1,"nested":{"x":1,"y":2},"list":[null,{"z":null}]}""", state);
    }

    [Fact]
    public void ApplyToObject_ReplacesAPrimitiveWithAMergedObject()
    {
        var state = new JsonObject { ["a"] = 5 };

        JsonMergePatch.ApplyToObject(state, J("""{"a":{"b":1,"c":null}}"""));

        AssertJson("""{"a":{"b":1}}""", state);
    }

    [Theory]
    [InlineData("[1]")]
    [InlineData("null")]
    [InlineData("\"x\"")]
    [InlineData("1")]
    public void ApplyToObject_RejectsAPatchThatIsNotAnObject_AndLeavesTheStateAlone(string patch)
    {
        var state = new JsonObject { ["a"] = 1 };

        Assert.Throws<ArgumentException>(() => JsonMergePatch.ApplyToObject(state, J(patch)));

        AssertJson("""{"a":1}""", state);
    }

    [Fact]
    public void Apply_DoesNotShareNodesWithThePatch_AcrossTwoTargets()
    {
        var patch = J("""{"a":{"b":[1,2]}}""");
        var first = new JsonObject();
        var second = new JsonObject();

        JsonMergePatch.ApplyToObject(first, patch);
        JsonMergePatch.ApplyToObject(second, patch);
        first["a"]!["b"]!.AsArray().Add(3);

        AssertJson("""{"a":{"b":[1,2]}}""", second);
    }
}
