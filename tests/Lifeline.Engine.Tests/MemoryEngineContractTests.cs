namespace Lifeline.Engine.Tests;

/// <summary>The engine contract, run against <see cref="MemoryEngine"/>.</summary>
public sealed class MemoryEngineContractTests : EngineContractTests
{
    /// <inheritdoc />
    protected override ValueTask<ILifelineEngine> CreateEngineAsync(TimeProvider time, EngineTestSettings settings) =>
        new(new MemoryEngine(
            new MemoryEngineOptions
            {
                HistorySize = settings.HistorySize,
                HistoryAge = settings.HistoryAge,
                IdempotencyWindow = settings.IdempotencyWindow,
            },
            time));
}
