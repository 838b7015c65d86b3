using System.Security.Cryptography.X509Certificates;
using QRemote.Dns;
using QRemote.Qmail;

namespace QRemote.Tls;

/// <summary>
/// Refreshes cached MTA-STS policies before they expire (RFC 8461 10.2), for the daemon: one pass at start-up and
/// then every <see cref="Interval"/>, each pass taking the cache directory's policies that are still valid but past
/// half their max_age (<see cref="MtaStsPolicy.RefreshDueAt"/>) and asking <see cref="MtaStsResolver"/> for each, as a
/// delivery would: the TXT record is looked up, the policy fetched, and a failure keeps the cached policy. At most
/// <see cref="MaxConcurrent"/> at once, each fetch within its own timeout and the whole pass within
/// <see cref="PassTime"/>; what is left is taken up by the next pass or the next delivery. Without the daemon, the
/// next delivery to the domain does the same refresh (docs/mta-sts.md).
/// </summary>
internal sealed class MtaStsRefresher(MtaStsResolver resolver, MtaStsCache cache, TimeProvider time)
{
    /// <summary>Between passes. A policy's refresh window is half its max_age, so an hour's wait only matters to
    /// policies of under two hours, which the next delivery refreshes instead.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromHours(1);

    /// <summary>Refreshes at once: a daemon with thousands of cached domains must not open thousands of connections.</summary>
    public const int MaxConcurrent = 4;

    /// <summary>One pass, all refreshes included.</summary>
    public static readonly TimeSpan PassTime = TimeSpan.FromMinutes(10);

    /// <summary>Cache files looked at in one pass; the directory is ours, but a pass must stay bounded anyway.</summary>
    public const int MaxFiles = 100_000;

    /// <summary>One pass: the domains whose policy was due, each with the resolver's detail line, in the order they finished.</summary>
    public async Task<IReadOnlyList<(string Domain, string Detail)>> RefreshDueAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var due = cache.Domains(MaxFiles).Where(d => cache.Load(d) is { } policy && policy.RefreshDueAt(now)).ToList();
        var done = new List<(string, string)>();
        using var deadline = new CancellationTokenSource(PassTime, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        try
        {
            await Parallel.ForEachAsync(due, new ParallelOptions { MaxDegreeOfParallelism = MaxConcurrent, CancellationToken = linked.Token }, async (domain, token) =>
            {
                var result = await resolver.GetPolicyAsync(domain, token).ConfigureAwait(false);
                lock (done)
                {
                    done.Add((domain, result.Detail));
                }
            }).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // The pass ran out of time: what is left waits for the next one.
        }

        lock (done)
        {
            return [.. done];
        }
    }

    /// <summary>The daemon's loop: a pass now, then one every <paramref name="interval"/>, until <paramref name="stop"/>.
    /// The configuration is read anew for each pass (control/qremote-mta-sts-cache may change); a pass never throws.</summary>
    /// <param name="refresher">The refresher for the current configuration, or null for none (no cache directory, control files unreadable).</param>
    /// <param name="log">One line per refresh, and per failed pass.</param>
    public static async Task RunAsync(Func<MtaStsRefresher?> refresher, TimeSpan interval, TimeProvider time, Action<string> log, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                if (refresher() is { } current)
                {
                    foreach (var (domain, detail) in await current.RefreshDueAsync(stop).ConfigureAwait(false))
                    {
                        log($"mta-sts refresh: {domain}: {detail}");
                    }
                }

                await Task.Delay(interval, time, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // A refresh is never worth the daemon: the next pass (or delivery) tries again.
            catch (Exception e)
            {
                log($"mta-sts refresh: pass abandoned: {e.GetType().Name}: {e.Message}");
                try
                {
                    await Task.Delay(interval, time, stop).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
#pragma warning restore CA1031
        }
    }

    /// <summary>The daemon's refresher for its qmail home and resolver: the delivery's cache directory, the WebPKI roots
    /// (read on first need), the RFC's one-minute fetch timeout (no delivery is waiting).</summary>
    public static Func<MtaStsRefresher?> ForDaemon(string qmailHome, string resolvConf, int httpsPort, DnsCache dnsCache, TimeProvider time)
    {
        var roots = new Lazy<X509Certificate2Collection>(() => SystemTrust.LoadRoots());
        return () =>
        {
            QmailConfig config;
            try
            {
                config = QmailConfig.Load(new ControlFiles(Path.Combine(qmailHome, "control")));
            }
            catch (ControlFileException)
            {
                return null;
            }

            var options = new MtaStsOptions(config.MtaStsCacheDirectory, [], httpsPort) { RootsOnDemand = roots };
            var dns = new DnsLookup(ResolverConfig.Load(resolvConf), dnsCache);
            return new MtaStsRefresher(new MtaStsResolver(dns, options, time), new MtaStsCache(config.MtaStsCacheDirectory), time);
        };
    }
}
