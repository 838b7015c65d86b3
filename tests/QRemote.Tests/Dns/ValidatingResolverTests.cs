using System.Diagnostics;
using System.Globalization;
using System.Net;
using ARSoft.Tools.Net;
using ARSoft.Tools.Net.Dns;
using QRemote.Dns;
using QRemote.Qmail;
using QRemote.Tests.Infrastructure;

namespace QRemote.Tests.Dns;

/// <summary>
/// The AD bit, end to end, with a real validating resolver: Unbound in front of DnsFixture's BIND,
/// trusting the key of <c>qremote.test</c>. QRemote's own DnsLookup and MailRouteResolver (built as
/// Deliverer builds them) must record <see cref="Destination.MxSecure"/> exactly when Unbound proved
/// the MX answer, never when asked of a server that does not validate, and must treat a bogus answer
/// (Unbound's SERVFAIL) as a temporary DNS failure, never as something to deliver to.
/// <para>The bogus zones are served by a second BIND of this fixture: <c>expired.test</c>, signed here
/// with signatures that expired ten days ago, behind its own (correct) trust anchor; and
/// <c>wrongkey.test</c>, signed properly but behind a trust anchor for a key it does not have.</para>
/// </summary>
public sealed class ValidatingResolverTests
{
    private const string KeyGen = "/usr/bin/dnssec-keygen";
    private const string SignZone = "/usr/bin/dnssec-signzone";
    private const string Report412 = "Sorry, I couldn't find any host by that name. (#4.1.2)\n";

    private string? _keys;
    private Bind? _bogus;
    private Unbound? _unbound;

    private Unbound Resolver => _unbound ?? throw new InvalidOperationException("unbound did not start");

    private static string BogusZone(string zone) => $"""
        $TTL 300
        @          SOA ns.{zone}. hostmaster.{zone}. 1 3600 600 86400 300
        @          NS  ns.qremote.test.
        plain      MX  10 mx1.plain
        mx1.plain  A   127.0.0.30

        """;

    [OneTimeSetUp]
    public void Start()
    {
        var clock = Stopwatch.StartNew();
        _keys = Directory.CreateTempSubdirectory("qremote-anchors-").FullName;
        var (expiredText, expiredKsk) = SignExpired(_keys, "expired.test", BogusZone("expired.test"));
        var strangerKsk = KeySigningKey(Path.Combine(_keys, "stranger"), "wrongkey.test");
        var signing = clock.ElapsedMilliseconds;

        _bogus = Bind.Start(
            new Dictionary<string, string?> { ["expired.test"] = expiredText, ["wrongkey.test"] = BogusZone("wrongkey.test") },
            new HashSet<string> { "wrongkey.test" });
        var bind = clock.ElapsedMilliseconds;

        var fixture = DnsFixture.Server.EndPoint;
        _unbound = Unbound.Start(
            new Dictionary<string, IPEndPoint>
            {
                ["qremote.test"] = fixture,
                ["other.test"] = fixture,
                ["expired.test"] = _bogus.EndPoint,
                ["wrongkey.test"] = _bogus.EndPoint,
            },
            [DnsFixture.Server.KeySigningKey("qremote.test"), expiredKsk, strangerKsk],
            ["other.test"]);
        TestContext.Progress.WriteLine(
            $"ValidatingResolverTests: keys and expired signing {signing} ms, second BIND {bind - signing} ms, unbound {clock.ElapsedMilliseconds - bind} ms");
    }

    [OneTimeTearDown]
    public void Stop()
    {
        _unbound?.Dispose();
        _bogus?.Dispose();
        if (_keys is not null)
        {
            Directory.Delete(_keys, recursive: true);
        }
    }

    [TestCase("plain.qremote.test", "127.0.0.10", true)]
    [TestCase("alias1.qremote.test", "127.0.0.11", true)]
    [TestCase("outside.other.test", "127.0.0.23", false)]
    [TestCase("crosszone.qremote.test", "127.0.0.23", false)]
    public async Task Mx_security_is_the_validating_resolvers_ad_bit(string domain, string address, bool secure)
    {
        var destinations = await DestinationsAsync(Resolver.EndPoint, domain);
        Assert.That(destinations.Select(d => d.Address), Is.EqualTo(new[] { IPAddress.Parse(address) }));
        Assert.That(destinations.Select(d => d.MxSecure), Has.All.EqualTo(secure),
            secure ? "Unbound validated this MX answer (AD)" : "this MX answer is not all from the signed zone: no AD");
    }

    [Test]
    public async Task Signed_answer_straight_from_the_authoritative_server_is_not_secure()
    {
        var bind = DnsFixture.Server.EndPoint;
        using var cts = Deadline();
        {
            var dns = new DnsLookup(Config(bind));
            var answer = await dns.QueryAsync(DomainName.Parse("plain.qremote.test"), RecordType.Mx, cts.Token);
            Assert.That(answer.Status, Is.EqualTo(DnsStatus.Ok));
            Assert.That(answer.Message!.AnswerRecords.OfType<RrSigRecord>(), Is.Not.Empty, "the answer is signed (DO was asked)");
            Assert.That(answer.Authentic, Is.False, "BIND is authoritative and does not validate: no AD");
        }

        var destinations = await DestinationsAsync(bind, "plain.qremote.test");
        Assert.That(destinations.Select(d => d.Address), Is.EqualTo(new[] { IPAddress.Parse("127.0.0.10") }));
        Assert.That(destinations.Select(d => d.MxSecure), Has.All.False, "signatures alone prove nothing to a stub: only AD does");
    }

    [TestCase("plain.expired.test", "signature expired")]
    [TestCase("plain.wrongkey.test", "signature missing")]
    public async Task Bogus_answer_is_a_temporary_failure_and_never_a_delivery(string domain, string why)
    {
        using var cts = Deadline();
        {
            var dns = new DnsLookup(Config(Resolver.EndPoint));
            var resolution = await new MailRouteResolver(dns, new FixedLocalAddresses(IPAddress.Loopback), new Random(1))
                .ResolveMxAsync(domain, 25, cts.Token);
            Assert.That(resolution, Is.TypeOf<Resolution.Failed>(), "a bogus MX answer gives nothing to deliver to");
            var report = ((Resolution.Failed)resolution).Report;
            Assert.That(report.Text, Is.EqualTo(Report412));
            Assert.That(report.Letter, Is.EqualTo(MessageLetter.Deferred));
        }

        // Unbound said SERVFAIL because the answer is bogus, not because BIND failed: with CD the data is there.
        Assert.That((await AskUnbound(domain, checkingDisabled: false)).ReturnCode, Is.EqualTo(ReturnCode.ServerFailure));
        var unchecked_ = await AskUnbound(domain, checkingDisabled: true);
        Assert.That(unchecked_.ReturnCode, Is.EqualTo(ReturnCode.NoError));
        Assert.That(unchecked_.AnswerRecords.OfType<MxRecord>().Select(r => r.ExchangeDomainName.ToString(false)), Is.EqualTo(new[] { $"mx1.{domain}" }));
        var log = Resolver.Output.Split('\n').Where(l => l.Contains(domain, StringComparison.Ordinal)).ToList();
        TestContext.Out.WriteLine(string.Join("\n", log));
        Assert.That(log, Has.Some.Contains($"validation failure <{domain}. MX IN>: {why}"));
        // The whole delivery, through resolv.conf, as qmail-send would see it.
        var delivered = await Harness.DeliverAsync(domain, "s@qremote.test", [$"rcpt@{domain}"], System.Text.Encoding.UTF8.GetBytes("Subject: bogus\n\nhello\n"),
            new() { SmtpPort = 1, ResolvConf = Resolver.WriteResolvConf() });
        Assert.That(delivered, Is.EqualTo("Z" + Report412 + "\\0"));
    }

    private static ResolverConfig Config(IPEndPoint server) =>
        ResolverConfig.Parse($"nameserver {server.Address}#{server.Port}\noptions timeout:2 attempts:1");

    private static CancellationTokenSource Deadline() => new(TimeSpan.FromSeconds(30));

    /// <summary>MX resolution as Deliverer does it, every destination resolved.</summary>
    private static async Task<IReadOnlyList<Destination>> DestinationsAsync(IPEndPoint server, string domain)
    {
        using var cts = Deadline();
        var ct = cts.Token;
        var dns = new DnsLookup(Config(server));
        var resolver = new MailRouteResolver(dns, new FixedLocalAddresses(IPAddress.Loopback), new Random(1));
        var resolution = await resolver.ResolveMxAsync(domain, 25, ct);
        Assert.That(resolution, Is.TypeOf<Resolution.Found>(), () => string.Join("\n", resolver.Trace));
        var destinations = await ((Resolution.Found)resolution).Destinations.ToListAsync(ct);
        TestContext.Out.WriteLine($"{domain} via {server}: " + string.Join(", ", destinations));
        Assert.That(destinations, Is.Not.Empty);
        return destinations;
    }

    private async Task<DnsMessage> AskUnbound(string domain, bool checkingDisabled)
    {
        var port = Resolver.EndPoint.Port;
        using var cts = Deadline();
        using var client = new DnsClient([Resolver.EndPoint.Address], [new UdpClientTransport(port), new TcpClientTransport(port)], disposeTransport: true, 2000);
        var options = new DnsQueryOptions
        {
            IsRecursionDesired = true,
            IsCheckingDisabled = checkingDisabled,
            EDnsOptions = new OptRecord(1232) { IsDnsSecOk = true },
        };
        return await client.ResolveAsync(DomainName.Parse(domain), RecordType.Mx, RecordClass.INet, options, cts.Token)
            ?? throw new InvalidOperationException($"unbound gave no answer for {domain} MX");
    }

    /// <summary>A fresh KSK for <paramref name="zone"/> that nothing signs with: its DNSKEY record.</summary>
    private static string KeySigningKey(string dir, string zone)
    {
        Directory.CreateDirectory(dir);
        var ksk = ExternalProcess.Run(KeyGen, "-q", "-K", dir, "-a", "RSASHA256", "-b", "2048", "-f", "KSK", "-n", "ZONE", zone).Trim();
        return DnsKeyLine(Path.Combine(dir, ksk + ".key"));
    }

    /// <summary>Signs <paramref name="text"/> as Bind does, but with signatures valid from 30 to 10 days ago
    /// (<c>-P</c>: dnssec-signzone would otherwise refuse to verify its own expired output). Returns the signed
    /// zone text, to be served as is, and the KSK's DNSKEY record (a trust anchor that matches).</summary>
    private static (string Signed, string Ksk) SignExpired(string dir, string zone, string text)
    {
        var keys = Path.Combine(dir, "keys-" + zone);
        Directory.CreateDirectory(keys);
        var zsk = ExternalProcess.Run(KeyGen, "-q", "-K", keys, "-a", "RSASHA256", "-b", "2048", "-n", "ZONE", zone).Trim();
        var ksk = ExternalProcess.Run(KeyGen, "-q", "-K", keys, "-a", "RSASHA256", "-b", "2048", "-f", "KSK", "-n", "ZONE", zone).Trim();
        var file = Path.Combine(dir, zone + ".zone");
        File.WriteAllText(file, text + $"$INCLUDE {keys}/{zsk}.key\n$INCLUDE {keys}/{ksk}.key\n");
        var now = DateTime.UtcNow;
        string Time(int days) => now.AddDays(days).ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture);
        var output = file + ".signed";
        ExternalProcess.Run(SignZone, "-P", "-q", "-K", keys, "-o", zone, "-f", output, "-s", Time(-30), "-e", Time(-10),
            file, $"{keys}/{zsk}.private", $"{keys}/{ksk}.private");
        return (File.ReadAllText(output), DnsKeyLine(Path.Combine(keys, ksk + ".key")));
    }

    private static string DnsKeyLine(string keyFile) =>
        File.ReadAllLines(keyFile).Single(l => !l.StartsWith(';') && l.Contains(" DNSKEY 257 ", StringComparison.Ordinal));
}
