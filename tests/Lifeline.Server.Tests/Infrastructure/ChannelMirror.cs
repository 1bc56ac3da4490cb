using System.Text.Json;
using System.Text.Json.Nodes;
using Lifeline.Protocol;

namespace Lifeline.Server.Tests.Infrastructure;

/// <summary>
/// What a well-behaved client keeps per channel, built only from what arrived on the wire: it applies snapshots and
/// deltas and records every applied offset, so tests can assert "consecutive, no duplicate, same final state".
/// </summary>
public sealed class ChannelMirror
{
    public string? Epoch { get; private set; }

    public long Offset { get; private set; }

    public JsonObject State { get; private set; } = [];

    public List<long> AppliedOffsets { get; } = [];

    public List<string> Violations { get; } = [];

    public int Snapshots { get; private set; }

    /// <summary>Feeds one server message; returns true when it concerned this channel's data.</summary>
    public bool Apply(JsonElement message)
    {
        switch (message.GetProperty("type").GetString())
        {
            case "subscribed":
                Epoch = message.GetProperty("epoch").GetString();
                return true;
            case "snapshot":
                Epoch = message.GetProperty("epoch").GetString();
                Offset = message.GetProperty("offset").GetInt64();
                State = JsonNode.Parse(message.GetProperty("state").GetRawText())!.AsObject();
                Snapshots++;
                return true;
            case "delta":
                var offset = message.GetProperty("offset").GetInt64();
                if (offset != Offset + 1)
                {
                    Violations.Add($"delta {offset} after {Offset}");
                }

                if (offset > Offset)
                {
                    JsonMergePatch.ApplyToObject(State, message.GetProperty("patch"));
                    Offset = offset;
                    AppliedOffsets.Add(offset);
                }

                return true;
            default:
                return false;
        }
    }
}
