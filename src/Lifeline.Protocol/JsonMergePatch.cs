using System.Text.Json;
using System.Text.Json.Nodes;

namespace Lifeline.Protocol;

/// <summary>JSON Merge Patch (RFC 7396), applied to a mutable <see cref="JsonNode"/> document.</summary>
public static class JsonMergePatch
{
    /// <summary>Applies <paramref name="patch"/> to <paramref name="target"/> and returns the result.</summary>
    /// <param name="target">The document to patch; objects are modified in place.</param>
    /// <param name="patch">The merge patch.</param>
    /// <returns>The patched document (a new node when the patch is not an object).</returns>
    public static JsonNode? Apply(JsonNode? target, JsonElement patch)
    {
        if (patch.ValueKind != JsonValueKind.Object)
        {
            return patch.ValueKind == JsonValueKind.Null ? null : JsonNode.Parse(patch.GetRawText());
        }

        var obj = target as JsonObject ?? [];
        foreach (var property in patch.EnumerateObject())
        {
            if (property.Value.ValueKind == JsonValueKind.Null)
            {
                obj.Remove(property.Name);
                continue;
            }

            obj.TryGetPropertyValue(property.Name, out var current);
            var merged = Apply(current, property.Value);
            if (!ReferenceEquals(merged, current))
            {
                // Detach before re-attaching: a node can have only one parent.
                obj[property.Name] = merged;
            }
        }

        return obj;
    }

    /// <summary>Applies a patch to an object document (a channel state), which stays an object.</summary>
    /// <param name="state">The channel state, modified in place.</param>
    /// <param name="patch">The merge patch; must be a JSON object.</param>
    public static void ApplyToObject(JsonObject state, JsonElement patch)
    {
        if (patch.ValueKind != JsonValueKind.Object)
        {
            throw new ArgumentException("a channel patch must be a JSON object", nameof(patch));
        }

        Apply(state, patch);
    }
}
