namespace Lifeline.Protocol;

/// <summary>A position in a channel's history: the epoch and the offset of the last applied delta.</summary>
/// <param name="Epoch">The channel's epoch; offsets restart when it changes.</param>
/// <param name="Offset">The offset of the last delta included (0 when the channel has none yet).</param>
public sealed record Position(string Epoch, long Offset);
