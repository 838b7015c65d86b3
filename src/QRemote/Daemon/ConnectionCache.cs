using QRemote.Delivery;
using QRemote.Smtp;

namespace QRemote.Daemon;

/// <summary>
/// Idle SMTP connections between deliveries, keyed by everything that must match for reuse (address, port,
/// TLS policy and why, credentials, source address, HELO name: <see cref="Deliverer"/> makes the key), so two
/// policies to one exchanger never share one. Bounded by <see cref="ConnectionLimits"/>, and by the server's own
/// <c>MAILMAX</c> (RFC 9422 LIMITS): a connection that has carried that many transactions is not kept. A sweep closes
/// expired connections once a second, and only while there are any: an idle daemon with an empty cache has
/// no timer running.
/// </summary>
internal sealed class ConnectionCache : ISessionCache, IDisposable
{
    private readonly ConnectionLimits _limits;
    private readonly TimeProvider _time;
    private readonly Dictionary<string, List<SmtpSession>> _idle = new(StringComparer.Ordinal);
    private readonly ITimer _sweep;
    private int _count;
    private bool _sweeping;
    private bool _disposed;

    public ConnectionCache(ConnectionLimits limits, TimeProvider time)
    {
        _limits = limits ?? throw new ArgumentNullException(nameof(limits));
        _time = time ?? throw new ArgumentNullException(nameof(time));
        _sweep = time.CreateTimer(_ => Sweep(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Idle connections now.</summary>
    public int Count
    {
        get
        {
            lock (_idle)
            {
                return _count;
            }
        }
    }

    /// <summary>Connections handed out again (for the log and tests).</summary>
    public int Reused { get; private set; }

    public bool TryPut(string key, SmtpSession session)
    {
        if (session.Age(_time) >= _limits.ReuseTime || !session.MayStartTransaction || session.LooksClosed())
        {
            // Too old, or the server's MAILMAX (RFC 9422 LIMITS) reached: the next delivery opens a new connection.
            return false;
        }

        lock (_idle)
        {
            if (_disposed || _count >= _limits.Total)
            {
                return false;
            }

            if (!_idle.TryGetValue(key, out var list))
            {
                _idle[key] = list = [];
            }

            if (list.Count >= _limits.PerDestination)
            {
                return false;
            }

            session.IdleSince = _time.GetTimestamp();
            list.Add(session);
            _count++;
            if (!_sweeping)
            {
                _sweeping = true;
                _sweep.Change(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
            }

            return true;
        }
    }

    public SmtpSession? TryTake(string key)
    {
        while (true)
        {
            SmtpSession? session;
            lock (_idle)
            {
                if (!_idle.TryGetValue(key, out var list) || list.Count == 0)
                {
                    return null;
                }

                // The most recently used: the likeliest to be alive.
                session = list[^1];
                list.RemoveAt(list.Count - 1);
                _count--;
                if (list.Count == 0)
                {
                    _idle.Remove(key);
                }
            }

            if (Expired(session) || !session.MayStartTransaction || session.LooksClosed())
            {
                session.Close();
                continue;
            }

            lock (_idle)
            {
                Reused++;
            }

            return session;
        }
    }

    private bool Expired(SmtpSession session) =>
        session.Age(_time) >= _limits.ReuseTime || _time.GetElapsedTime(session.IdleSince) >= _limits.IdleTime;

    private void Sweep()
    {
        var closing = new List<SmtpSession>();
        lock (_idle)
        {
            foreach (var (key, list) in _idle.ToList())
            {
                foreach (var s in list.Where(s => Expired(s) || s.LooksClosed()).ToList())
                {
                    list.Remove(s);
                    _count--;
                    closing.Add(s);
                }

                if (list.Count == 0)
                {
                    _idle.Remove(key);
                }
            }

            if (_count == 0 && _sweeping)
            {
                _sweeping = false;
                _sweep.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            }
        }

        foreach (var s in closing)
        {
            s.Close();
        }
    }

    public void Dispose()
    {
        List<SmtpSession> all;
        lock (_idle)
        {
            _disposed = true;
            all = _idle.Values.SelectMany(l => l).ToList();
            _idle.Clear();
            _count = 0;
        }

        _sweep.Dispose();
        foreach (var s in all)
        {
            s.Close();
        }
    }
}
