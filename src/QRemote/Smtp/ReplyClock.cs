namespace QRemote.Smtp;

/// <summary>
/// <see cref="ReplyRecorder"/>'s deadline: every reply owed must be complete within <c>timeoutremote</c> of its command
/// (or of the reply before it), so a server dripping one byte a second cannot hold a delivery for ever; while the
/// message goes out (<see cref="BeginWriting"/>) no reply's clock runs and each write has the deadline instead, as
/// qmail's timeoutwrite has it. When the deadline passes, <c>expired</c> is told why.
/// </summary>
internal sealed class ReplyClock : IDisposable
{
    private readonly ITimer? _timer;
    private readonly TimeSpan _deadline;
    private readonly Lock _gate = new();
    private int _outstanding = 1; // the greeting
    private bool _writing;

    /// <param name="expired">Called when a reply or a write is late; null (or an infinite deadline): no clock at all.</param>
    public ReplyClock(TimeProvider time, TimeSpan deadline, Action<string>? expired)
    {
        _deadline = deadline;
        if (expired is not null && deadline != Timeout.InfiniteTimeSpan)
        {
            _timer = time.CreateTimer(_ => expired(Volatile.Read(ref _writing)
                ? $"no write completed within {deadline.TotalSeconds:0}s"
                : $"no complete reply within {deadline.TotalSeconds:0}s"), null, deadline, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>The message starts going out: from now on the clock bounds each write, not the replies owed.</summary>
    public void BeginWriting()
    {
        lock (_gate)
        {
            _writing = true;
            _timer?.Change(_deadline, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>One write completed: the next has the deadline of its own.</summary>
    public void Wrote()
    {
        lock (_gate)
        {
            if (_writing)
            {
                _timer?.Change(_deadline, Timeout.InfiniteTimeSpan);
            }
        }
    }

    /// <summary>The last write is done: the replies still owed have the deadline from now.</summary>
    public void EndWriting()
    {
        lock (_gate)
        {
            _writing = false;
            _timer?.Change(_outstanding > 0 ? _deadline : Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>A command went out that waits for a reply.</summary>
    public void Expect()
    {
        lock (_gate)
        {
            if (_writing)
            {
                _outstanding++;
                return;
            }

            if (_outstanding++ == 0)
            {
                _timer?.Change(_deadline, Timeout.InfiniteTimeSpan);
            }
        }
    }

    /// <summary>A reply is complete.</summary>
    public void Replied()
    {
        lock (_gate)
        {
            _outstanding = Math.Max(0, _outstanding - 1);
            if (_writing)
            {
                // The MAIL and RCPT replies arriving during a pipelined upload: the writes keep their own clock.
                return;
            }

            // Each reply restarts the clock for the next one still owed; none owed, no clock.
            _timer?.Change(_outstanding > 0 ? _deadline : Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }
    }

    public void Dispose() => _timer?.Dispose();
}
