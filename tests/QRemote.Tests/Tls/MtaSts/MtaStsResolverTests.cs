using System.Diagnostics;
using System.Net;
using System.Text;
using QRemote.Dns;
using QRemote.Tests.Infrastructure;
using QRemote.Tls;

namespace QRemote.Tests.Tls.MtaSts;

/// <summary>
/// Policy discovery against real peers: BIND9 (<see cref="MtaStsFixture"/>) for the <c>_mta-sts</c> records and
/// the policy hosts' addresses, <c>openssl s_server -WWW</c> serving the policy file over HTTPS with certificates
/// made at test time, and a cache directory per test.
/// </summary>
[NonParallelizable]
public sealed class MtaStsResolverTests
{
    private const string Good = "good.mtasts.test";

    private static readonly IPAddress GoodHost = IPAddress.Parse("127.0.0.81");
    private static readonly IPAddress FlipHost = IPAddress.Parse("127.0.0.85");

    private const string Enforce = "version: STSv1\r\nmode: enforce\r\nmx: mx1.good.mtasts.test\r\nmx: *.backup.mtasts.test\r\nmax_age: 86400\r\n";
    private const string Testing = "version: STSv1\nmode: testing\nmx: old.flip.test\nmax_age: 86400\n";

    private string _cache = "";

    [SetUp]
    public void MakeCache() => _cache = Directory.CreateTempSubdirectory("qremote-mtasts-cache-").FullName;

    [TearDown]
    public void RemoveCache() => Directory.Delete(_cache, recursive: true);

    private MtaStsResolver Resolver(int port, string ca = "ca", TimeProvider? time = null, TimeSpan? timeout = null, IDnsLookup? dns = null, string? cache = "") =>
        new(dns ?? MtaStsFixture.Lookup(), new MtaStsOptions(cache == "" ? _cache : cache, MtaStsFixture.Roots(ca), port, timeout), time ?? TimeProvider.System);

    private string CacheFile(string domain) => Path.Combine(_cache, domain);

    // ---- fetched, cached, fetched again -------------------------------------------------------------------------

    [Test]
    public async Task A_policy_is_fetched_parsed_and_cached()
    {
        using var server = OpensslPolicyServer.Start(GoodHost, "policy", Enforce);
        var before = DateTimeOffset.UtcNow;
        var result = await Resolver(server.Port).GetPolicyAsync(Good, CancellationToken.None);

        Assert.That(result.Detail, Is.EqualTo("enforce, id good1, max_age 86400, fetched"));
        var policy = result.Policy!;
        Assert.That(policy.Mode, Is.EqualTo(MtaStsMode.Enforce));
        Assert.That(policy.MxPatterns, Is.EqualTo(new[] { "mx1.good.mtasts.test", "*.backup.mtasts.test" }));
        Assert.That(policy.Id, Is.EqualTo("good1"));
        Assert.That(policy.Fetched, Is.InRange(before, DateTimeOffset.UtcNow));
        Assert.That(policy.MatchesMx("MX1.good.mtasts.test."), Is.True);
        Assert.That(policy.MatchesMx("b1.backup.mtasts.test"), Is.True);
        Assert.That(policy.MatchesMx("x.b1.backup.mtasts.test"), Is.False);
        Assert.That(server.WaitForRequests(1), Is.EqualTo(1));
        // The policy host's addresses came from our resolver (BIND saw the questions), not the system's.
        var log = MtaStsFixture.Server.QueryLog();
        Assert.That(log, Has.Some.Contains("query: _mta-sts.good.mtasts.test IN TXT"));
        Assert.That(log, Has.Some.Contains("query: mta-sts.good.mtasts.test IN A "));
        Assert.That(log, Has.Some.Contains("query: mta-sts.good.mtasts.test IN AAAA "));

        // One file, named by the domain, 0640, written whole (no temporary file left behind).
        Assert.That(Directory.GetFileSystemEntries(_cache).Select(Path.GetFileName), Is.EqualTo(new[] { Good }));
        Assert.That(File.GetUnixFileMode(CacheFile(Good)), Is.EqualTo((UnixFileMode)0b110_100_000));
        var text = File.ReadAllText(CacheFile(Good));
        Assert.That(text, Does.StartWith($"qremote-mta-sts-cache 1\ndomain: {Good}\nid: good1\nfetched: "));
        Assert.That(text, Does.EndWith("\n\n" + Enforce), "the body as received");
    }

    [Test]
    public async Task The_same_id_is_not_fetched_again_while_the_cached_policy_is_fresh()
    {
        int port;
        using (var server = OpensslPolicyServer.Start(GoodHost, "policy", Enforce))
        {
            port = server.Port;
            Assert.That((await Resolver(port).GetPolicyAsync(Good, CancellationToken.None)).Detail, Does.EndWith("fetched"));
            var again = await Resolver(port).GetPolicyAsync(Good, CancellationToken.None);
            Assert.That(again.Detail, Is.EqualTo("enforce, id good1, max_age 86400, cached"));
            Assert.That(server.WaitForRequests(1), Is.EqualTo(1));
        }

        // The server is gone: the policy still comes, from the cache, 11 hours later too (before its refresh window,
        // half its max_age: MtaStsRefreshTests).
        var later = await Resolver(port, time: FakeClock.Ahead(TimeSpan.FromHours(11))).GetPolicyAsync(Good, CancellationToken.None);
        Assert.That(later.Detail, Is.EqualTo("enforce, id good1, max_age 86400, cached"));
        Assert.That(later.Policy!.Mode, Is.EqualTo(MtaStsMode.Enforce));
        Assert.That(later.Policy.MxPatterns, Is.EqualTo(new[] { "mx1.good.mtasts.test", "*.backup.mtasts.test" }));
    }

    [Test]
    public async Task An_expired_cached_policy_is_fetched_again_and_not_used_when_that_fails()
    {
        int port;
        using (var server = OpensslPolicyServer.Start(GoodHost, "policy", Enforce))
        {
            port = server.Port;
            await Resolver(port).GetPolicyAsync(Good, CancellationToken.None);
            var refreshed = await Resolver(port, time: FakeClock.Ahead(TimeSpan.FromSeconds(86401))).GetPolicyAsync(Good, CancellationToken.None);
            Assert.That(refreshed.Detail, Does.EndWith("fetched"), "max_age has passed: the same id is fetched again");
            Assert.That(server.WaitForRequests(2), Is.EqualTo(2));
        }

        var result = await Resolver(port, time: FakeClock.Ahead(TimeSpan.FromSeconds(2 * 86401))).GetPolicyAsync(Good, CancellationToken.None);
        Assert.That(result.Policy, Is.Null);
        Assert.That(result.Detail, Does.StartWith("fetch of id good1 failed: cannot connect to mta-sts.good.mtasts.test: 127.0.0.81 port ")
            .And.Contain("; cached policy id good1 expired "));
    }

    [Test]
    public async Task A_new_id_is_fetched_and_replaces_the_cached_policy()
    {
        using var server = OpensslPolicyServer.Start(FlipHost, "policy", Testing);
        using (var dns = MtaStsFixture.StartFlip(MtaStsFixture.FlipZone("v=STSv1; id=one;")))
        {
            var first = await Resolver(server.Port, dns: MtaStsFixture.Lookup(dns.WriteResolvConf())).GetPolicyAsync("flip.test", CancellationToken.None);
            Assert.That(first.Detail, Is.EqualTo("testing, id one, max_age 86400, fetched"));
        }

        server.Serve(Enforce);
        using (var dns = MtaStsFixture.StartFlip(MtaStsFixture.FlipZone("v=STSv1; id=two;")))
        {
            var second = await Resolver(server.Port, dns: MtaStsFixture.Lookup(dns.WriteResolvConf())).GetPolicyAsync("flip.test", CancellationToken.None);
            Assert.That(second.Detail, Is.EqualTo("enforce, id two, max_age 86400, fetched"));
            Assert.That(second.Policy!.MxPatterns, Does.Contain("mx1.good.mtasts.test"));
        }

        Assert.That(server.WaitForRequests(2), Is.EqualTo(2));
        Assert.That(File.ReadAllText(CacheFile("flip.test")), Does.Contain("\nid: two\n").And.Contain("mode: enforce"));
    }

    // ---- a fresh cached policy outlives failures ------------------------------------------------------------------

    /// <summary>Fetches flip.test's policy under id "one" into the cache, then stops its server.</summary>
    private async Task CacheFlipPolicy()
    {
        using var server = OpensslPolicyServer.Start(FlipHost, "policy", Testing);
        using var dns = MtaStsFixture.StartFlip(MtaStsFixture.FlipZone("v=STSv1; id=one;"));
        var result = await Resolver(server.Port, dns: MtaStsFixture.Lookup(dns.WriteResolvConf())).GetPolicyAsync("flip.test", CancellationToken.None);
        Assert.That(result.Detail, Does.EndWith("fetched"));
    }

    [Test]
    public async Task A_fresh_cached_policy_is_used_when_the_new_id_cannot_be_fetched()
    {
        await CacheFlipPolicy();
        using var dns = MtaStsFixture.StartFlip(MtaStsFixture.FlipZone("v=STSv1; id=two;"));
        var result = await Resolver(Infrastructure.FreePort.Tcp(FlipHost), dns: MtaStsFixture.Lookup(dns.WriteResolvConf())).GetPolicyAsync("flip.test", CancellationToken.None);
        Assert.That(result.Policy?.Id, Is.EqualTo("one"));
        Assert.That(result.Policy!.Mode, Is.EqualTo(MtaStsMode.Testing));
        Assert.That(result.Detail, Does.StartWith("testing, id one, max_age 86400, cached; fetch of id two failed: cannot connect to mta-sts.flip.test: 127.0.0.85 port "));
        Assert.That(result.Detail, Does.Not.Contain("\n"));

        var noCache = await Resolver(Infrastructure.FreePort.Tcp(FlipHost), dns: MtaStsFixture.Lookup(dns.WriteResolvConf()), cache: null).GetPolicyAsync("flip.test", CancellationToken.None);
        Assert.That(noCache.Policy, Is.Null);
        Assert.That(noCache.Detail, Does.StartWith("fetch of id two failed: cannot connect").And.EndWith("; no cached policy"));
    }

    [Test]
    public async Task A_fresh_cached_policy_is_used_when_the_txt_record_is_gone()
    {
        await CacheFlipPolicy();
        using var dns = MtaStsFixture.StartFlip(MtaStsFixture.FlipZone(null));
        var result = await Resolver(443, dns: MtaStsFixture.Lookup(dns.WriteResolvConf())).GetPolicyAsync("flip.test", CancellationToken.None);
        Assert.That(result.Policy?.Id, Is.EqualTo("one"));
        Assert.That(result.Detail, Is.EqualTo("testing, id one, max_age 86400, cached; no _mta-sts.flip.test record"));
    }

    [Test]
    public async Task A_failed_txt_lookup_gives_the_fresh_cached_policy_or_none()
    {
        await CacheFlipPolicy();
        using var dns = MtaStsFixture.StartFlip(null); // SERVFAIL for everything
        var result = await Resolver(443, dns: MtaStsFixture.Lookup(dns.WriteResolvConf())).GetPolicyAsync("flip.test", CancellationToken.None);
        Assert.That(result.Policy?.Id, Is.EqualTo("one"));
        Assert.That(result.Detail, Is.EqualTo("testing, id one, max_age 86400, cached; _mta-sts.flip.test TXT lookup failed temporarily"));

        var none = await Resolver(443, dns: MtaStsFixture.Lookup(dns.WriteResolvConf()), cache: null).GetPolicyAsync("flip.test", CancellationToken.None);
        Assert.That(none, Is.EqualTo(new MtaStsResult(null, "_mta-sts.flip.test TXT lookup failed temporarily; no cached policy")));

        var expired = await Resolver(443, dns: MtaStsFixture.Lookup(dns.WriteResolvConf()), time: FakeClock.Ahead(TimeSpan.FromDays(2))).GetPolicyAsync("flip.test", CancellationToken.None);
        Assert.That(expired.Policy, Is.Null);
        Assert.That(expired.Detail, Does.StartWith("_mta-sts.flip.test TXT lookup failed temporarily; cached policy id one expired "));
    }

    // ---- the TXT record -------------------------------------------------------------------------------------------

    [TestCase("nxdomain.mtasts.test", "no _mta-sts.nxdomain.mtasts.test record")]
    [TestCase("nodata.mtasts.test", "no _mta-sts.nodata.mtasts.test record")]
    [TestCase("two.mtasts.test", "2 v=STSv1 records at _mta-sts.two.mtasts.test: none is valid")]
    [TestCase("noid.mtasts.test", "_mta-sts.noid.mtasts.test record not valid: no id")]
    [TestCase("x.broken-sts.test", "_mta-sts.x.broken-sts.test TXT lookup failed temporarily; no cached policy")]
    [TestCase("[127.0.0.1]", "[127.0.0.1] is not a domain name: no policy")]
    [TestCase("two\nlines.test", "two?lines.test is not a domain name: no policy")]
    public async Task Without_one_valid_txt_record_there_is_no_policy_and_nothing_is_fetched(string domain, string detail)
    {
        // A policy host that would answer, for the domains that have one: it must not be asked.
        using var server = OpensslPolicyServer.Start(IPAddress.Parse("127.0.0.84"), "policy", Enforce);
        var result = await Resolver(server.Port).GetPolicyAsync(domain, CancellationToken.None);
        Assert.That(result, Is.EqualTo(new MtaStsResult(null, detail)));
        Assert.That(server.Requests, Is.Zero);
        Assert.That(Directory.GetFileSystemEntries(_cache), Is.Empty);
    }

    [Test]
    public async Task A_record_in_two_strings_beside_an_spf_record_is_read()
    {
        using var server = OpensslPolicyServer.Start(IPAddress.Parse("127.0.0.82"), "policy", Enforce);
        Assert.That((await Resolver(server.Port).GetPolicyAsync("split.mtasts.test", CancellationToken.None)).Detail,
            Is.EqualTo("enforce, id split1, max_age 86400, fetched"));
    }

    [Test]
    public async Task A_cname_at_mta_sts_is_followed_but_the_policy_host_stays_the_domains_own()
    {
        using var server = OpensslPolicyServer.Start(IPAddress.Parse("127.0.0.83"), "policy", Enforce);
        var result = await Resolver(server.Port).GetPolicyAsync("alias.mtasts.test", CancellationToken.None);
        Assert.That(result.Detail, Is.EqualTo("enforce, id good1, max_age 86400, fetched"));
        Assert.That(server.WaitForRequests(1), Is.EqualTo(1));
    }

    [Test]
    public async Task A_policy_host_behind_a_cname_is_reached_through_our_resolver()
    {
        using var server = OpensslPolicyServer.Start(IPAddress.Parse("127.0.0.87"), "policy", Enforce);
        Assert.That((await Resolver(server.Port).GetPolicyAsync("cname.mtasts.test", CancellationToken.None)).Detail,
            Is.EqualTo("enforce, id cname1, max_age 86400, fetched"));
    }

    [Test]
    public async Task A_policy_host_without_an_address_is_a_failed_fetch()
    {
        var result = await Resolver(443).GetPolicyAsync("hostless.mtasts.test", CancellationToken.None);
        Assert.That(result, Is.EqualTo(new MtaStsResult(null,
            "fetch of id hostless1 failed: mta-sts.hostless.mtasts.test does not exist; no cached policy")
        {
            Failure = TlsReportResult.StsPolicyFetchError,
        }));
    }

    // ---- the HTTPS fetch ------------------------------------------------------------------------------------------

    [TestCase("foreign", "ca", "RemoteCertificateChainErrors")]
    [TestCase("policy", "otherca", "RemoteCertificateChainErrors")]
    [TestCase("wrongname", "ca", "RemoteCertificateNameMismatch")]
    public async Task A_certificate_that_does_not_verify_is_a_failed_fetch(string certificate, string ca, string why)
    {
        using var server = OpensslPolicyServer.Start(GoodHost, certificate, Enforce);
        var result = await Resolver(server.Port, ca).GetPolicyAsync(Good, CancellationToken.None);
        TestContext.Out.WriteLine(result.Detail);
        Assert.That(result.Policy, Is.Null);
        Assert.That(result.Detail, Does.StartWith($"fetch of id good1 failed: certificate of mta-sts.{Good} did not verify ({why}")
            .And.EndWith("; no cached policy"));
        Assert.That(server.Requests, Is.Zero);
        Assert.That(Directory.GetFileSystemEntries(_cache).Select(Path.GetFileName), Is.EqualTo(new[] { ".failed-" + Good }), "no policy kept; the failure remembered");
    }

    [Test]
    public async Task A_wildcard_certificate_names_the_policy_host()
    {
        using var server = OpensslPolicyServer.Start(IPAddress.Parse("127.0.0.86"), "wildcard", Enforce);
        Assert.That((await Resolver(server.Port).GetPolicyAsync("wild.mtasts.test", CancellationToken.None)).Detail,
            Is.EqualTo("enforce, id wild1, max_age 86400, fetched"));
    }

    [Test]
    public async Task A_policy_that_does_not_parse_is_a_failed_fetch()
    {
        using var server = OpensslPolicyServer.Start(GoodHost, "policy", "version: STSv1\nmode: enforce\nmx: mx1.good.mtasts.test\n");
        var result = await Resolver(server.Port).GetPolicyAsync(Good, CancellationToken.None);
        Assert.That(result, Is.EqualTo(new MtaStsResult(null, "fetch of id good1 failed: policy not valid: no max_age; no cached policy") { Failure = TlsReportResult.StsPolicyInvalid }));
        Assert.That(Directory.GetFileSystemEntries(_cache).Select(Path.GetFileName), Is.EqualTo(new[] { ".failed-" + Good }), "no policy kept; the failure remembered");
    }

    [Test]
    public async Task Links_planted_in_the_cache_directory_are_never_written_through()
    {
        // The cache directory is qmailr's: whoever has its rights may plant links there, and qremote run by hand as
        // root must not then write where they point. The outcomes are the ones without the links.
        var victim = Path.Combine(Path.GetTempPath(), $"qremote-victim-{Guid.NewGuid():N}");
        File.WriteAllText(victim, "precious\n");
        try
        {
            File.CreateSymbolicLink(Path.Combine(_cache, ".failed-" + Good), victim);
            File.CreateSymbolicLink(CacheFile(Good), victim);
            using var server = OpensslPolicyServer.Start(GoodHost, "policy", "version: STSv1\nmode: enforce\nmx: mx1.good.mtasts.test\n");
            var failed = await Resolver(server.Port).GetPolicyAsync(Good, CancellationToken.None);
            Assert.That(failed, Is.EqualTo(new MtaStsResult(null, "fetch of id good1 failed: policy not valid: no max_age; no cached policy") { Failure = TlsReportResult.StsPolicyInvalid }));
            Assert.That(File.ReadAllText(victim), Is.EqualTo("precious\n"), "the failure marker written through its link");
            Assert.That(File.ResolveLinkTarget(Path.Combine(_cache, ".failed-" + Good), false), Is.Null, "the marker is a file of its own now");

            server.Serve(Enforce);
            var fetched = await Resolver(server.Port, time: FakeClock.Ahead(TimeSpan.FromMinutes(6))).GetPolicyAsync(Good, CancellationToken.None);
            Assert.That(fetched.Detail, Is.EqualTo("enforce, id good1, max_age 86400, fetched"));
            Assert.That(File.ReadAllText(victim), Is.EqualTo("precious\n"), "the policy written through its link");
            Assert.That(File.ReadAllText(CacheFile(Good)), Does.EndWith("\n\n" + Enforce));
        }
        finally
        {
            File.Delete(victim);
        }
    }

    [Test]
    public async Task A_failed_fetch_is_not_tried_again_for_five_minutes()
    {
        // RFC 8461 3.3: a policy host that is down must not cost every delivery a fetch (here a policy that does not
        // parse: the server counts the requests).
        using var server = OpensslPolicyServer.Start(GoodHost, "policy", "version: STSv1\nmode: enforce\nmx: mx1.good.mtasts.test\n");
        Assert.That((await Resolver(server.Port).GetPolicyAsync(Good, CancellationToken.None)).Detail, Does.StartWith("fetch of id good1 failed"));
        Assert.That(server.WaitForRequests(1), Is.EqualTo(1));
        var again = await Resolver(server.Port, time: FakeClock.Ahead(TimeSpan.FromMinutes(4))).GetPolicyAsync(Good, CancellationToken.None);
        Assert.That(again.Policy, Is.Null);
        Assert.That(again.Detail, Does.Match(@"^fetch of id good1 failed at .*; not tried again before .*; no cached policy$"));
        Thread.Sleep(200);
        Assert.That(server.Requests, Is.EqualTo(1), "not fetched again within five minutes");
        server.Serve(Enforce);
        var later = await Resolver(server.Port, time: FakeClock.Ahead(TimeSpan.FromMinutes(6))).GetPolicyAsync(Good, CancellationToken.None);
        Assert.That(later.Detail, Does.EndWith("fetched"));
        Assert.That(server.WaitForRequests(2), Is.EqualTo(2));
        Assert.That(Directory.GetFileSystemEntries(_cache).Select(Path.GetFileName), Is.EqualTo(new[] { Good }), "the failure forgotten once a fetch worked");
    }

    [Test]
    public async Task A_body_of_65536_bytes_is_taken_and_one_of_65537_is_not()
    {
        static byte[] Padded(int length)
        {
            // Valid policy, then an unknown field whose value fills up to the exact length.
            var head = Encoding.ASCII.GetBytes(Enforce + "padding: ");
            return [.. head, .. Enumerable.Repeat((byte)'x', length - head.Length - 1), (byte)'\n'];
        }

        using var server = OpensslPolicyServer.Start(GoodHost, "policy", Padded(65536));
        var taken = await Resolver(server.Port, cache: null).GetPolicyAsync(Good, CancellationToken.None);
        Assert.That(taken.Detail, Is.EqualTo("enforce, id good1, max_age 86400, fetched"));

        server.Serve(Padded(65537));
        var refused = await Resolver(server.Port, cache: null).GetPolicyAsync(Good, CancellationToken.None);
        Assert.That(refused, Is.EqualTo(new MtaStsResult(null, "fetch of id good1 failed: body over 65536 bytes; no cached policy") { Failure = TlsReportResult.StsPolicyFetchError }));
    }

    [Test]
    public async Task A_body_that_is_not_utf8_is_a_failed_fetch()
    {
        using var server = OpensslPolicyServer.Start(GoodHost, "policy", [.. Encoding.ASCII.GetBytes(Enforce + "x: "), 0xff, (byte)'\n']);
        Assert.That((await Resolver(server.Port).GetPolicyAsync(Good, CancellationToken.None)).Detail,
            Is.EqualTo("fetch of id good1 failed: body is not UTF-8; no cached policy"));
    }

    [TestCase("404 Not Found", "Content-Type: text/plain", "HTTP 404, not 200")]
    [TestCase("500 Internal Server Error", "Content-Type: text/plain", "HTTP 500, not 200")]
    [TestCase("200 OK", "Content-Type: text/html", "Content-Type text/html, not text/plain")]
    [TestCase("200 OK", "Content-Type: application/octet-stream", "Content-Type application/octet-stream, not text/plain")]
    [TestCase("200 OK", "", "no Content-Type")]
    [TestCase("200 OK", "Content-Type: text/plain\r\nContent-Length: 70000", "body of 70000 bytes, over 65536")]
    public async Task Answers_other_than_200_text_plain_are_failed_fetches(string status, string headers, string why)
    {
        using var server = new ScriptedHttpsServer(GoodHost, "policy", ScriptedHttpsServer.Http(status, headers, Enforce));
        var result = await Resolver(server.Port).GetPolicyAsync(Good, CancellationToken.None);
        Assert.That(result, Is.EqualTo(new MtaStsResult(null, $"fetch of id good1 failed: {why}; no cached policy") { Failure = TlsReportResult.StsPolicyFetchError }));
        Assert.That(server.Requests, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task Text_plain_with_a_charset_is_taken_and_the_request_is_a_plain_get()
    {
        using var server = new ScriptedHttpsServer(GoodHost, "policy", ScriptedHttpsServer.Http("200 OK", "Content-Type: Text/Plain; charset=utf-8", Enforce));
        Assert.That((await Resolver(server.Port).GetPolicyAsync(Good, CancellationToken.None)).Detail, Is.EqualTo("enforce, id good1, max_age 86400, fetched"));
        var request = server.Requests.Single();
        Assert.That(request, Does.StartWith("GET /.well-known/mta-sts.txt HTTP/1.1\r\n"));
        Assert.That(request, Does.Contain($"Host: mta-sts.{Good}:{server.Port}\r\n"));
        Assert.That(request, Does.Not.Contain("Cookie").And.Not.Contain("Accept-Encoding"));
    }

    [Test]
    public async Task A_redirect_is_not_followed()
    {
        using var target = new ScriptedHttpsServer(GoodHost, "policy", ScriptedHttpsServer.Http("200 OK", "Content-Type: text/plain", Enforce));
        var location = $"https://mta-sts.{Good}:{target.Port}/.well-known/mta-sts.txt";
        using var server = new ScriptedHttpsServer(GoodHost, "policy", ScriptedHttpsServer.Http("301 Moved Permanently", "Location: " + location, ""));
        var result = await Resolver(server.Port).GetPolicyAsync(Good, CancellationToken.None);
        Assert.That(result, Is.EqualTo(new MtaStsResult(null, $"fetch of id good1 failed: HTTP 301 to {location}, not 200; no cached policy") { Failure = TlsReportResult.StsPolicyFetchError }));
        Assert.That(target.Requests, Is.Empty);
    }

    [Test]
    public async Task A_server_that_never_answers_is_given_up_at_the_fetch_timeout()
    {
        using var server = new ScriptedHttpsServer(GoodHost, "policy", "", silent: true);
        var clock = Stopwatch.StartNew();
        var result = await Resolver(server.Port, timeout: TimeSpan.FromSeconds(2)).GetPolicyAsync(Good, CancellationToken.None);
        Assert.That(result, Is.EqualTo(new MtaStsResult(null, "fetch of id good1 failed: no complete answer in 2 s; no cached policy") { Failure = TlsReportResult.StsPolicyFetchError }));
        Assert.That(clock.Elapsed, Is.InRange(TimeSpan.FromSeconds(1.9), TimeSpan.FromSeconds(10)));
        Assert.That(server.Requests, Has.Count.EqualTo(1));
    }

    [Test]
    public void The_callers_cancellation_is_thrown()
    {
        using var server = new ScriptedHttpsServer(GoodHost, "policy", "", silent: true);
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
        Assert.That(async () => await Resolver(server.Port).GetPolicyAsync(Good, cancel.Token), Throws.InstanceOf<OperationCanceledException>());
    }

    [Test]
    public async Task Mode_none_is_returned_as_a_policy()
    {
        using var server = OpensslPolicyServer.Start(GoodHost, "policy", "version: STSv1\nmode: none\nmax_age: 86400\n");
        var result = await Resolver(server.Port).GetPolicyAsync(Good, CancellationToken.None);
        Assert.That(result.Policy?.Mode, Is.EqualTo(MtaStsMode.None));
        Assert.That(result.Detail, Is.EqualTo("none, id good1, max_age 86400, fetched"));
    }

    // ---- the cache directory --------------------------------------------------------------------------------------

    [Test]
    public async Task A_missing_or_unusable_cache_directory_does_not_stop_the_policy()
    {
        using var server = OpensslPolicyServer.Start(GoodHost, "policy", Enforce);
        var missing = Path.Combine(_cache, "missing");
        var result = await Resolver(server.Port, cache: missing).GetPolicyAsync(Good, CancellationToken.None);
        Assert.That(result.Policy?.Mode, Is.EqualTo(MtaStsMode.Enforce));
        Assert.That(result.Detail, Is.EqualTo($"enforce, id good1, max_age 86400, fetched; not cached: cache directory {missing} does not exist"));
        Assert.That(Directory.Exists(missing), Is.False, "not created");

        // Root writes anywhere, so "not writable" is made with a file where a directory should be.
        var file = Path.Combine(_cache, "a-file");
        File.WriteAllText(file, "");
        var unusable = await Resolver(server.Port, cache: Path.Combine(file, "sub")).GetPolicyAsync(Good, CancellationToken.None);
        Assert.That(unusable.Policy?.Mode, Is.EqualTo(MtaStsMode.Enforce));
        Assert.That(unusable.Detail, Does.StartWith("enforce, id good1, max_age 86400, fetched; not cached: "));

        var byFile = await Resolver(server.Port, cache: file).GetPolicyAsync(Good, CancellationToken.None);
        Assert.That(byFile.Policy?.Mode, Is.EqualTo(MtaStsMode.Enforce));
        Assert.That(byFile.Detail, Does.StartWith("enforce, id good1, max_age 86400, fetched; not cached: "));

        var none = await Resolver(server.Port, cache: null).GetPolicyAsync(Good, CancellationToken.None);
        Assert.That(none.Detail, Is.EqualTo("enforce, id good1, max_age 86400, fetched"), "no cache directory: nothing to say");
    }

    [Test]
    public async Task The_cache_file_is_named_by_the_domain_in_lower_case_and_a_damaged_one_is_replaced()
    {
        using var server = OpensslPolicyServer.Start(GoodHost, "policy", Enforce);
        File.WriteAllText(CacheFile(Good), "qremote-mta-sts-cache 1\ndomain: good.mtasts.test\nid: good1\nfetched: yesterday\n\n" + Enforce);
        var result = await Resolver(server.Port).GetPolicyAsync("GOOD.MtaSts.Test.", CancellationToken.None);
        Assert.That(result.Detail, Is.EqualTo("enforce, id good1, max_age 86400, fetched"), "the damaged file is no cache");
        Assert.That(Directory.GetFileSystemEntries(_cache).Select(Path.GetFileName), Is.EqualTo(new[] { Good }));
        Assert.That(File.ReadAllText(CacheFile(Good)), Does.Not.Contain("yesterday"));

        // A cache file claiming another domain (copied by hand, say) is not believed either.
        File.WriteAllText(CacheFile(Good), File.ReadAllText(CacheFile(Good)).Replace($"domain: {Good}", "domain: other.test", StringComparison.Ordinal));
        Assert.That((await Resolver(server.Port).GetPolicyAsync(Good, CancellationToken.None)).Detail, Does.EndWith("fetched"));
        Assert.That(server.WaitForRequests(2), Is.EqualTo(2));
    }
}
