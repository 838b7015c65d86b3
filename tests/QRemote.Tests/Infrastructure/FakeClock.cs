namespace QRemote.Tests.Infrastructure;

/// <summary>
/// A wall clock the test sets: stopped at a given time and moved only by <see cref="Advance"/>, or running with the
/// system clock but ahead of it. Only the wall clock is fake: timestamps and timers stay real (TimeProvider's own),
/// so timeouts still take their real time.
/// </summary>
internal sealed class FakeClock : TimeProvider
{
    private readonly DateTimeOffset? _stoppedAt;
    private TimeSpan _ahead;

    private FakeClock(DateTimeOffset? stoppedAt, TimeSpan ahead)
    {
        _stoppedAt = stoppedAt;
        _ahead = ahead;
    }

    /// <summary>A clock that shows <paramref name="start"/> until told to move.</summary>
    public static FakeClock StoppedAt(DateTimeOffset start) => new(start, TimeSpan.Zero);

    /// <summary>The system clock moved by a fixed offset: for expiry, without waiting a day.</summary>
    public static FakeClock Ahead(TimeSpan offset) => new(null, offset);

    public override DateTimeOffset GetUtcNow() => (_stoppedAt ?? System.GetUtcNow()) + _ahead;

    public void Advance(TimeSpan by) => _ahead += by;
}
