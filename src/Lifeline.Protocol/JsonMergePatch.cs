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

    /// <summary>
    /// Creates the merge patch that turns <paramref name="from"/> into <paramref name="to"/> (the inverse of
    /// <see cref="Apply"/>): for two objects, the members removed (as <c>null</c>), added or changed, recursing into
    /// members that are objects on both sides; otherwise <paramref name="to"/> itself, which replaces the whole document.
    /// </summary>
    /// <remarks>
    /// RFC 7396 cannot express a member whose value is <c>null</c> (a <c>null</c> in a patch removes the member) nor an
    /// edit inside an array (an array is replaced whole): a <c>null</c> member of <paramref name="to"/> comes out as a
    /// removal, and a changed array is sent whole. Neither input is modified; the patch shares no node with them.
    /// </remarks>
    /// <param name="from">The document before.</param>
    /// <param name="to">The document after.</param>
    /// <returns>The patch: a <see cref="JsonObject"/> (empty when nothing changed) when both are objects; otherwise a copy
    /// of <paramref name="to"/> (null for JSON null).</returns>
    public static JsonNode? Create(JsonNode? from, JsonNode? to)
    {
        if (to is not JsonObject target)
        {
            return to?.DeepClone();
        }

        if (from is not JsonObject source)
        {
            return target.DeepClone();
        }

        var patch = new JsonObject();
        foreach (var (name, _) in source)
        {
            if (!target.ContainsKey(name))
            {
                patch[name] = null;
            }
        }

        foreach (var (name, value) in target)
        {
            if (!source.TryGetPropertyValue(name, out var before))
            {
                patch[name] = value?.DeepClone();
            }
            else if (before is JsonObject && value is JsonObject)
            {
                if (Create(before, value) is JsonObject { Count: > 0 } nested)
                {
                    patch[name] = nested;
                }
            }
            else if (!JsonNode.DeepEquals(before, value))
            {
                patch[name] = value?.DeepClone();
            }
        }

        return patch;
    }
}
