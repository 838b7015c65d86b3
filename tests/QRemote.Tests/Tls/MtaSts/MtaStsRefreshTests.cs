using System.Net;
using QRemote.Dns;
using QRemote.Tests.Infrastructure;
using QRemote.Tls;

namespace QRemote.Tests.Tls.MtaSts;

/// <summary>
/// Refreshing cached policies before they expire (RFC 8461 10.2 and 5.1), against the same peers as
/// <see cref="MtaStsResolverTests"/>: past half its max_age a cached policy is fetched again on the next lookup (the
/// HTTPS server sees the second GET), a failed refresh keeps the cached policy, and the daemon's refresher does it
/// with no delivery at all.
/// </summary>
[NonParallelizable]
public sealed class MtaStsRefreshTests
{
    private const string Good = "good.mtasts.test";
    private const string Split = "split.mtasts.test";
    private const string Enforce = "version: STSv1\r\nmode: enforce\r\nmx: mx1.good.mtasts.test\r\nmax_age: 86400\r\n";
    private const string Testing = "version: STSv1\nmode: testing\nmx: old.flip.test\nmax_age: 86400\n";

    private static readonly IPAddress GoodHost = IPAddress.Parse("127.0.0.81");
    private static readonly IPAddress FlipHost = IPAddress.Parse("127.0.0.85");

    private string _cache = "";

    [SetUp]
    public void MakeCache() => _cache = Directory.CreateTempSubdirectory("qremote-mtasts-refresh-").FullName;

    [TearDown]
    public void RemoveCache() => Directory.Delete(_cache, recursive: true);

    private MtaStsResolver Resolver(int port, TimeProvider time, IDnsLookup? dns = null) =>
        new(dns ?? MtaStsFixture.Lookup(), new MtaStsOptions(_cache, MtaStsFixture.Roots("ca"), port), time);

    private string CacheFile(string domain) => Path.Combine(_cache, domain);

    /// <summary>A cached policy fetched <paramref name="age"/> ago, as a fetch would have left it.</summary>
    private void Cached(string domain, string id, TimeSpan age, string body = Enforce) =>
        Assert.That(new MtaStsCache(_cache).Store(domain, id, DateTimeOffset.UtcNow - age, body), Is.Null);

    [Test]
    public async Task Before_half_its_max_age_a_cached_policy_is_not_fetched_again()
    {
        using var server = OpensslPolicyServer.Start(GoodHost, "policy", Enforce);
        Cached(Good, "good1", TimeSpan.FromHours(11.9));
        var result = await Resolver(server.Port, TimeProvider.System).GetPolicyAsync(Good, CancellationToken.None);
        Assert.That(result.Detail, Is.EqualTo("enforce, id good1, max_age 86400, cached"));
        Thread.Sleep(200);
        Assert.That(server.Requests, Is.Zero);
    }

    [Test]
    public async Task Past_half_its_max_age_a_cached_policy_is_fetched_again_and_replaced()
    {
        using var server = OpensslPolicyServer.Start(GoodHost, "policy", Enforce.Replace("max_age: 86400", "max_age: 604800", StringComparison.Ordinal));
        Cached(Good, "good1", TimeSpan.FromHours(12.1));
        var before = DateTimeOffset.UtcNow;
        var result = await Resolver(server.Port, TimeProvider.System).GetPolicyAsync(Good, CancellationToken.None);
        Assert.That(result.Detail, Is.EqualTo("enforce, id good1, max_age 604800, refreshed"));
        Assert.That(result.Policy!.Fetched, Is.GreaterThanOrEqualTo(before.AddSeconds(-1)));
        Assert.That(server.WaitForRequests(1), Is.EqualTo(1), "the HTTPS server saw the refresh's GET");
        Assert.That(File.ReadAllText(CacheFile(Good)), Does.Contain("max_age: 604800"), "the refreshed policy replaced the cached one");
        var next = await Resolver(server.Port, TimeProvider.System).GetPolicyAsync(Good, CancellationToken.None);
        Assert.That(next.Detail, Is.EqualTo("enforce, id good1, max_age 604800, cached"), "refreshed: out of its window again");
    }

    [Test]
    public async Task A_policy_near_expiry_is_refetched_by_its_second_get()
    {
        // Fetched, then looked up again 23 hours on (the wall clock moved; the server is the same): the second GET.
        using var server = OpensslPolicyServer.Start(GoodHost, "policy", Enforce);
        Assert.That((await Resolver(server.Port, TimeProvider.System).GetPolicyAsync(Good, CancellationToken.None)).Detail, Does.EndWith("fetched"));
        var later = await Resolver(server.Port, FakeClock.Ahead(TimeSpan.FromHours(23))).GetPolicyAsync(Good, CancellationToken.None);
        Assert.That(later.Detail, Is.EqualTo("enforce, id good1, max_age 86400, refreshed"));
        Assert.That(server.WaitForRequests(2), Is.EqualTo(2));
    }

    [Test]
    public async Task A_failed_refresh_keeps_the_cached_policy_and_its_file()
    {
        Cached(Good, "good1", TimeSpan.FromHours(20));
        var file = File.ReadAllBytes(CacheFile(Good));
        // A policy host that answers with something else than a policy: the refresh fails after a real GET.
        using var server = new ScriptedHttpsServer(GoodHost, "policy", ScriptedHttpsServer.Http("503 Service Unavailable", "Content-Type: text/plain", "later"));
        var result = await Resolver(server.Port, TimeProvider.System).GetPolicyAsync(Good, CancellationToken.None);
        Assert.That(result.Policy?.Mode, Is.EqualTo(MtaStsMode.Enforce));
        Assert.That(result.Policy!.MxPatterns, Is.EqualTo(new[] { "mx1.good.mtasts.test" }));
        Assert.That(result.Detail, Is.EqualTo("enforce, id good1, max_age 86400, cached; fetch of id good1 failed: HTTP 503, not 200"));
        Assert.That(server.Requests, Has.Count.EqualTo(1));
        Assert.That(File.ReadAllBytes(CacheFile(Good)), Is.EqualTo(file), "a failed fetch never replaces a valid cached policy");

        // The next lookup within five minutes does not ask again, and still applies the cached policy.
        var again = await Resolver(server.Port, TimeProvider.System).GetPolicyAsync(Good, CancellationToken.None);
        Assert.That(again.Policy?.Id, Is.EqualTo("good1"));
        Assert.That(again.Detail, Does.Match(@"^enforce, id good1, max_age 86400, cached; fetch of id good1 failed at \S+; not tried again before \S+$"));
        Assert.That(server.Requests, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task A_refresh_goes_ahead_when_the_txt_record_is_gone_or_dns_fails()
    {
        // RFC 8461 10.2: an attacker blocking DNS must not be able to let a policy run out; the host is asked anyway.
        using var server = OpensslPolicyServer.Start(FlipHost, "policy", Testing);
        Cached("flip.test", "one", TimeSpan.FromHours(13), Testing);
        using (var gone = MtaStsFixture.StartFlip(MtaStsFixture.FlipZone(null)))
        {
            var result = await Resolver(server.Port, TimeProvider.System, MtaStsFixture.Lookup(gone.WriteResolvConf())).GetPolicyAsync("flip.test", CancellationToken.None);
            Assert.That(result.Detail, Is.EqualTo("testing, id one, max_age 86400, refreshed; no _mta-sts.flip.test record"));
        }

        Assert.That(server.WaitForRequests(1), Is.EqualTo(1));
        Cached("flip.test", "one", TimeSpan.FromHours(13), Testing);
        using (var servfail = MtaStsFixture.StartFlip(null))
        {
            var result = await Resolver(server.Port, TimeProvider.System, MtaStsFixture.Lookup(servfail.WriteResolvConf())).GetPolicyAsync("flip.test", CancellationToken.None);
            // The same DNS gives no address for the policy host either: the refresh fails, the cached policy stays.
            Assert.That(result.Policy?.Id, Is.EqualTo("one"));
            Assert.That(result.Detail, Is.EqualTo("testing, id one, max_age 86400, cached; fetch of id one failed: mta-sts.flip.test: address lookup failed temporarily;"
                + " _mta-sts.flip.test TXT lookup failed temporarily"));
        }

        Thread.Sleep(200);
        Assert.That(server.Requests, Is.EqualTo(1));
    }

    [Test]
    public async Task The_refresher_takes_only_the_policies_in_their_refresh_window()
    {
        using var server = OpensslPolicyServer.Start(GoodHost, "policy", Enforce);
        Cached(Good, "good1", TimeSpan.FromHours(13)); // due
        Cached(Split, "split1", TimeSpan.FromHours(1)); // not yet: its host (127.0.0.82) has no server, a refresh would fail
        Cached("flip.test", "one", TimeSpan.FromDays(2), Testing); // expired: not refreshed, the next delivery fetches it
        File.WriteAllText(Path.Combine(_cache, "not a domain"), "junk");
        var refresher = new MtaStsRefresher(Resolver(server.Port, TimeProvider.System), new MtaStsCache(_cache), TimeProvider.System);
        var done = await refresher.RefreshDueAsync(CancellationToken.None);
        Assert.That(done, Is.EqualTo(new[] { (Good, "enforce, id good1, max_age 86400, refreshed") }));
        Assert.That(server.WaitForRequests(1), Is.EqualTo(1));

        // An hour on by the clock, nothing is due any more.
        var later = new MtaStsRefresher(Resolver(server.Port, FakeClock.Ahead(TimeSpan.FromHours(1))), new MtaStsCache(_cache), FakeClock.Ahead(TimeSpan.FromHours(1)));
        Assert.That(await later.RefreshDueAsync(CancellationToken.None), Is.Empty);
        // Twelve hours on, both good and split are due.
        var clock = FakeClock.Ahead(TimeSpan.FromHours(12.5));
        var both = await new MtaStsRefresher(Resolver(server.Port, clock), new MtaStsCache(_cache), clock).RefreshDueAsync(CancellationToken.None);
        Assert.That(both.Select(d => d.Domain), Is.EquivalentTo(new[] { Good, Split }));
        Assert.That(both.Single(d => d.Domain == Split).Detail, Does.StartWith("enforce, id split1, max_age 86400, cached; fetch of id split1 failed: cannot connect"));
    }

    [Test]
    public async Task The_refresh_loop_passes_at_start_and_then_every_interval_until_stopped()
    {
        using var server = OpensslPolicyServer.Start(GoodHost, "policy", Enforce);
        Cached(Good, "good1", TimeSpan.FromHours(13));
        var lines = new List<string>();
        using var stop = new CancellationTokenSource();
        var clock = FakeClock.StoppedAt(DateTimeOffset.UtcNow);
        var loop = MtaStsRefresher.RunAsync(() => new MtaStsRefresher(Resolver(server.Port, clock), new MtaStsCache(_cache), clock),
            TimeSpan.FromMilliseconds(100), clock, l => { lock (lines) { lines.Add(l); } }, stop.Token);
        WaitFor.Condition(() => { lock (lines) { return lines.Count >= 1; } }, "the first pass");
        Assert.That(lines[0], Is.EqualTo("mta-sts refresh: good.mtasts.test: enforce, id good1, max_age 86400, refreshed"));
        Thread.Sleep(500);
        Assert.That(server.Requests, Is.EqualTo(1), "passes go on, but the refreshed policy is not due again");
        clock.Advance(TimeSpan.FromHours(12.5));
        WaitFor.Condition(() => { lock (lines) { return lines.Count >= 2; } }, "a pass once due again");
        await stop.CancelAsync();
        Assert.That(loop.Wait(10_000), Is.True, "the loop ends when stopped");
        Assert.That(server.Requests, Is.EqualTo(2));
    }

    [Test]
    public void The_daemon_refreshes_a_due_policy_without_a_delivery()
    {
        // The published daemon, as nobody with env -, its cache holding a policy past half its max_age: its first
        // refresh pass fetches it, with no client ever connecting.
        using var server = OpensslPolicyServer.Start(GoodHost, "policy", Enforce.Replace("max_age: 86400", "max_age: 90000", StringComparison.Ordinal));
        using var home = TempQmailHome.Create();
        var shared = Directory.CreateTempSubdirectory("qremote-refresh-daemon-").FullName;
        try
        {
            File.SetUnixFileMode(shared, (UnixFileMode)0b111_101_101);
            var roots = Path.Combine(shared, "roots.pem");
            File.Copy(MtaStsFixture.Certificate("ca"), roots);
            var resolv = Path.Combine(shared, "resolv.conf");
            File.Copy(MtaStsFixture.ResolvConf, resolv);
            File.SetUnixFileMode(roots, (UnixFileMode)0b110_100_100);
            File.SetUnixFileMode(resolv, (UnixFileMode)0b110_100_100);
            Cached(Good, "good1", TimeSpan.FromHours(13));
            ExternalProcess.Run("/bin/chown", "-R", "65534:65534", _cache);
            home.WriteControl("qremote-mta-sts-cache", _cache + "\n");
            File.SetUnixFileMode(Path.GetDirectoryName(_cache)!, File.GetUnixFileMode(Path.GetDirectoryName(_cache)!) | UnixFileMode.OtherExecute);

            using var daemon = QRemoteDaemon.Start(home.Path, $"SSL_CERT_FILE={roots}", $"QREMOTE_RESOLV_CONF={resolv}", $"QREMOTE_HTTPS_PORT={server.Port}");
            Assert.That(server.WaitForRequests(1), Is.EqualTo(1), "the daemon's GET");
            WaitFor.Condition(() => File.ReadAllText(CacheFile(Good)).Contains("max_age: 90000", StringComparison.Ordinal), "the refreshed policy in the cache");
            Assert.That(daemon.HasExited, Is.False);
        }
        finally
        {
            Directory.Delete(shared, recursive: true);
        }
    }
}
