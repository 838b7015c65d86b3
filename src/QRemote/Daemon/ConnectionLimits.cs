namespace QRemote.Daemon;

/// <summary>The connection cache's bounds (docs/daemon.md). Postfix's defaults where it has them.</summary>
/// <param name="ReuseTime">A connection is reused for at most this long after it was opened (Postfix: smtp_connection_reuse_time_limit, 300 s).</param>
/// <param name="IdleTime">An idle connection is closed after this (Postfix: smtp_connection_cache_time_limit, 2 s; servers' own idle limits are minutes).</param>
/// <param name="PerDestination">Idle connections kept for one key (address, port, policy, credentials).</param>
/// <param name="Total">Idle connections kept in all.</param>
internal sealed record ConnectionLimits(TimeSpan ReuseTime, TimeSpan IdleTime, int PerDestination, int Total)
{
    /// <summary>300 s, 10 s, 20 per destination (qmail's concurrencyremote and Postfix's destination concurrency
    /// default), 100 in all.</summary>
    public static ConnectionLimits Default { get; } = new(TimeSpan.FromSeconds(300), TimeSpan.FromSeconds(10), 20, 100);
}
