using System.Net;
using System.Text.RegularExpressions;
using QRemote.Dns;
using QRemote.Tests.Infrastructure;

namespace QRemote.Tests.Dns;

/// <summary>
/// RFC 5321 section 5 against a real BIND9: each case delivers (or fails) in-process, through
/// the DNS, to a Postfix smtp-sink on the address the zone names, and checks the report bytes.
/// </summary>
public sealed partial class MxResolutionTests
{
    private const string Message = "Subject: dns\n\nhello\n";

    private static async Task<string> DeliverTo(string domain, IPAddress sinkAddress, ILocalAddresses? local = null, Random? random = null)
    {
        var port = FreePort.Tcp(sinkAddress);
        using var sink = SmtpSink.StartOn(sinkAddress, port);
        return await Harness.DeliverAsync(domain, "s@qremote.test", [$"rcpt@{domain}"], System.Text.Encoding.UTF8.GetBytes(Message),
            new() { SmtpPort = port, ResolvConf = DnsFixture.ResolvConf, Local = local, Random = random });
    }

    private static Task<string> Report(string domain) =>
        Harness.DeliverAsync(domain, "s@qremote.test", [$"rcpt@{domain}"], System.Text.Encoding.UTF8.GetBytes(Message),
            new() { SmtpPort = 1, ResolvConf = DnsFixture.ResolvConf });

    private static string Accepted(string ip) => $"r\\0K{ip} accepted message.\nRemote host said: 250 2.0.0 Ok\nTLS: none offered\n\\0";

    [Test]
    public async Task Plain_mx_is_delivered() =>
        Assert.That(await DeliverTo("plain.qremote.test", IPAddress.Parse("127.0.0.10")), Is.EqualTo(Accepted("127.0.0.10")));

    [Test]
    public async Task Three_step_cname_chain_to_an_mx_domain_is_followed_in_the_answer()
    {
        Assert.That(await DeliverTo("alias1.qremote.test", IPAddress.Parse("127.0.0.11")), Is.EqualTo(Accepted("127.0.0.11")));
        Assert.That(QueriesFor("alias1.qremote.test").Distinct(), Is.EqualTo(new[] { "MX" }), "one MX question (over UDP, then TCP if truncated)");
        TestContext.Out.WriteLine("query log:\n" + string.Join("\n", DnsFixture.Server.QueryLog().Where(l => l.Contains("alias1", StringComparison.Ordinal) || l.Contains("target", StringComparison.Ordinal))));
        foreach (var link in new[] { "alias2.qremote.test", "alias3.qremote.test", "target.qremote.test" })
        {
            Assert.That(QueriesFor(link), Is.Empty, $"{link} came in the first answer");
        }
    }

    [TestCase(false, "rcpt@alias1.qremote.test")]
    [TestCase(true, "rcpt@target.qremote.test")]
    public async Task Recipient_domains_are_canonicalized_only_when_the_control_file_asks(bool canonicalize, string expectedRcpt)
    {
        var sinkAddress = IPAddress.Parse("127.0.0.11");
        var port = FreePort.Tcp(sinkAddress);
        using var sink = SmtpSink.StartOn(sinkAddress, port);
        var report = await Harness.DeliverAsync("alias1.qremote.test", "s@qremote.test", ["rcpt@alias1.qremote.test"], System.Text.Encoding.UTF8.GetBytes(Message),
            new() { Config = Harness.Config() with { CanonicalizeRecipients = canonicalize }, SmtpPort = port, ResolvConf = DnsFixture.ResolvConf });
        Assert.That(report, Is.EqualTo(Accepted("127.0.0.11")));
        WaitFor.Condition(() => sink.Dumps().Count == 1, "the dump");
        Assert.That(sink.Dumps()[0], Does.Contain($"X-Rcpt-Args: <{expectedRcpt}>\n"));
        Assert.That(DnsFixture.Server.QueryLog().Where(l => l.Contains(" IN CNAME ", StringComparison.Ordinal) || l.Contains(" IN ANY ", StringComparison.Ordinal)), Is.Empty);
    }

    [Test]
    public async Task Cname_chain_into_another_zone_is_delivered()
    {
        Assert.That(await DeliverTo("crosszone.qremote.test", IPAddress.Parse("127.0.0.23")), Is.EqualTo(Accepted("127.0.0.23")));
        Assert.That(QueriesFor("crosszone.qremote.test").Distinct(), Is.EqualTo(new[] { "MX" }));
        // BIND does not follow a CNAME out of its zone, so the chain leaves the answer: we ask MX for its end.
        Assert.That(QueriesFor("outside.other.test").Distinct(), Is.EqualTo(new[] { "MX" }));
    }

    [Test]
    public async Task Cname_loop_is_a_temporary_failure() =>
        Assert.That(await Report("loop1.qremote.test"), Is.EqualTo("ZSorry, I couldn't find any host by that name. (#4.1.2)\n\\0"));

    [Test]
    public async Task Mx_target_that_is_a_cname_is_followed() =>
        Assert.That(await DeliverTo("mxcname.qremote.test", IPAddress.Parse("127.0.0.12")), Is.EqualTo(Accepted("127.0.0.12")));

    [Test]
    public async Task Null_mx_is_permanent_without_connecting() =>
        Assert.That(await Report("nullmx.qremote.test"),
            Is.EqualTo("DSorry, nullmx.qremote.test does not accept mail: it publishes a null MX. (#5.1.10)\n\\0"));

    [Test]
    public async Task Null_mx_wins_over_an_a_record() =>
        Assert.That(await Report("nullmxa.qremote.test"),
            Is.EqualTo("DSorry, nullmxa.qremote.test does not accept mail: it publishes a null MX. (#5.1.10)\n\\0"));

    [Test]
    public async Task Nxdomain_is_permanent() =>
        Assert.That(await Report("nonexistent.qremote.test"),
            Is.EqualTo("DSorry, I couldn't find any host named nonexistent.qremote.test. (#5.1.2)\n\\0"));

    [Test]
    public async Task Nodata_uses_the_implicit_mx() =>
        Assert.That(await DeliverTo("nodata.qremote.test", IPAddress.Parse("127.0.0.14")), Is.EqualTo(Accepted("127.0.0.14")));

    [Test]
    public async Task Aaaa_only_exchanger_is_delivered_over_ipv6() =>
        Assert.That(await DeliverTo("v6only.qremote.test", IPAddress.IPv6Loopback, local: new FixedLocalAddresses(IPAddress.Loopback)),
            Is.EqualTo(Accepted("::1")));

    [Test]
    public async Task Servfail_is_temporary() =>
        Assert.That(await Report("x.broken.test"), Is.EqualTo("ZSorry, I couldn't find any host by that name. (#4.1.2)\n\\0"));

    [Test]
    public async Task Exchanger_without_addresses_is_permanent() =>
        Assert.That(await Report("noaddr.qremote.test"), Is.EqualTo("DSorry, I couldn't find a mail exchanger or IP address. (#5.4.4)\n\\0"));

    [Test]
    public async Task Mx_pointing_at_this_host_cuts_off_itself_and_higher_preferences() =>
        Assert.That(await Report("self.qremote.test"), Is.EqualTo(
            "DSorry. Although I'm listed as a best-preference MX or A for that host,\nit isn't in my control/locals file, so I don't treat it as local. (#5.4.6)\n\\0"));

    [Test]
    public async Task Mx_pointing_at_this_host_at_a_worse_preference_leaves_the_better_one() =>
        Assert.That(await DeliverTo("self2.qremote.test", IPAddress.Parse("127.0.0.18")), Is.EqualTo(Accepted("127.0.0.18")));

    [Test]
    public async Task Dead_first_exchanger_falls_back_to_the_next() =>
        Assert.That(await DeliverTo("backup.qremote.test", IPAddress.Parse("127.0.0.20")), Is.EqualTo(Accepted("127.0.0.20")));

    [TestCase("-r", "CONNECT")]
    [TestCase("-f", "CONNECT")]
    [TestCase("-f", "EHLO,HELO")]
    [TestCase("-q", "EHLO")]
    public async Task Refusal_or_loss_before_mail_moves_on_to_the_next_exchanger(string option, string command)
    {
        var first = IPAddress.Parse("127.0.0.24");
        var second = IPAddress.Parse("127.0.0.25");
        var port = FreePort.Tcp(first);
        using var bad = SmtpSink.StartOn(first, port, option, command);
        using var good = SmtpSink.StartOn(second, port);
        var report = await Harness.DeliverAsync("twomx.qremote.test", "s@qremote.test", ["r@twomx.qremote.test"],
            System.Text.Encoding.UTF8.GetBytes(Message), new() { SmtpPort = port, ResolvConf = DnsFixture.ResolvConf });
        Assert.That(report, Is.EqualTo(Accepted("127.0.0.25")));
    }

    [Test]
    public async Task When_every_exchanger_refuses_the_greeting_the_last_report_stands()
    {
        var first = IPAddress.Parse("127.0.0.24");
        var second = IPAddress.Parse("127.0.0.25");
        var port = FreePort.Tcp(first);
        using var a = SmtpSink.StartOn(first, port, "-r", "CONNECT");
        using var b = SmtpSink.StartOn(second, port, "-r", "CONNECT");
        var report = await Harness.DeliverAsync("twomx.qremote.test", "s@qremote.test", ["r@twomx.qremote.test"],
            System.Text.Encoding.UTF8.GetBytes(Message), new() { SmtpPort = port, ResolvConf = DnsFixture.ResolvConf });
        Assert.That(report, Is.EqualTo("ZConnected to 127.0.0.25 but greeting failed.\nRemote host said: 450 4.3.0 Error: command failed\n\\0"));
    }

    [Test]
    public async Task A_refusal_after_mail_does_not_move_on()
    {
        var first = IPAddress.Parse("127.0.0.24");
        var second = IPAddress.Parse("127.0.0.25");
        var port = FreePort.Tcp(first);
        using var a = SmtpSink.StartOn(first, port, "-r", "MAIL");
        using var b = SmtpSink.StartOn(second, port);
        var report = await Harness.DeliverAsync("twomx.qremote.test", "s@qremote.test", ["r@twomx.qremote.test"],
            System.Text.Encoding.UTF8.GetBytes(Message), new() { SmtpPort = port, ResolvConf = DnsFixture.ResolvConf });
        Assert.That(report, Is.EqualTo("ZConnected to 127.0.0.24 but sender was rejected.\nRemote host said: 450 4.3.0 Error: command failed\n\\0"));
    }

    [Test]
    public async Task Mx_answer_over_512_bytes_comes_whole_over_udp_with_edns()
    {
        Assert.That(await DeliverTo("mid.qremote.test", IPAddress.Parse("127.0.0.22")), Is.EqualTo(Accepted("127.0.0.22")));
        Assert.That(QueryLines("mid.qremote.test", "MX").Any(l => !IsTcp(l)), "asked over UDP");
        Assert.That(QueryLines("mid.qremote.test", "MX").Any(IsTcp), Is.False, "no TCP needed");
    }

    [Test]
    public async Task Signed_mx_answer_over_1232_bytes_is_asked_again_over_tcp()
    {
        Assert.That(await DeliverTo("big.qremote.test", IPAddress.Parse("127.0.0.21")), Is.EqualTo(Accepted("127.0.0.21")));
        Assert.That(QueryLines("big.qremote.test", "MX").Any(IsTcp), "the query log shows the MX query over TCP");
    }

    [Test]
    public async Task An_exchanger_listed_twice_in_any_case_is_one_exchanger_at_its_best_preference()
    {
        // twice.qremote.test: MX 20 MX.Twice, MX 10 mx.twice, MX 30 other.twice (the grouping is a loop of ours, not LINQ).
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var dns = new DnsLookup(ResolverConfig.Parse(File.ReadAllText(DnsFixture.ResolvConf)));
        var resolver = new MailRouteResolver(dns, new FixedLocalAddresses(IPAddress.Loopback), new Random(1));
        var resolution = await resolver.ResolveMxAsync("twice.qremote.test", 25, cts.Token);
        Assert.That(resolution, Is.TypeOf<Resolution.Found>(), () => string.Join("\n", resolver.Trace));
        var destinations = await ((Resolution.Found)resolution).Destinations.ToListAsync(cts.Token);
        Assert.That(destinations.Select(d => (d.ExchangerName.ToLowerInvariant(), d.Preference, d.Address.ToString())),
            Is.EqualTo(new[] { ("mx.twice.qremote.test", 10, "127.0.0.26"), ("other.twice.qremote.test", 30, "127.0.0.27") }));
    }

    [Test]
    public async Task Equal_preferences_are_both_used_across_runs()
    {
        var first = IPAddress.Parse("127.0.0.15");
        var second = IPAddress.Parse("127.0.0.16");
        var port = FreePort.Tcp(first);
        using var a = SmtpSink.StartOn(first, port);
        using var b = SmtpSink.StartOn(second, port);
        var used = new HashSet<string>();
        for (var seed = 0; seed < 12; seed++)
        {
            var report = await Harness.DeliverAsync("equal.qremote.test", "s@qremote.test", ["r@equal.qremote.test"],
                System.Text.Encoding.UTF8.GetBytes(Message), new() { SmtpPort = port, ResolvConf = DnsFixture.ResolvConf, Random = new Random(seed) });
            used.Add(report.Split(' ')[0]);
        }

        Assert.That(used, Is.EquivalentTo(new[] { "r\\0K127.0.0.15", "r\\0K127.0.0.16" }));
    }

    [Test]
    public async Task Nameserver_that_never_answers_is_temporary_and_bounded()
    {
        using var silent = new SilentDnsServer();
        var resolv = Path.Combine(Path.GetTempPath(), $"qremote-silent-{Guid.NewGuid():N}.conf");
        File.WriteAllText(resolv, $"nameserver 127.0.0.1#{silent.Port}\noptions timeout:1 attempts:1\n");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var report = await Harness.DeliverAsync("plain.qremote.test", "s@qremote.test", ["r@plain.qremote.test"],
            System.Text.Encoding.UTF8.GetBytes(Message), new() { SmtpPort = 1, ResolvConf = resolv });
        Assert.That(report, Is.EqualTo("ZSorry, I couldn't find any host by that name. (#4.1.2)\n\\0"));
        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(30)), "the query deadline bounds a TCP server that accepts and never answers");
        File.Delete(resolv);
    }

    [Test]
    public async Task A_malformed_answer_is_temporary()
    {
        using var garbage = new GarbageDnsServer();
        var resolv = Path.Combine(Path.GetTempPath(), $"qremote-garbage-{Guid.NewGuid():N}.conf");
        File.WriteAllText(resolv, $"nameserver 127.0.0.1#{garbage.Port}\noptions timeout:1 attempts:1\n");
        try
        {
            var report = await Harness.DeliverAsync("plain.qremote.test", "s@qremote.test", ["r@plain.qremote.test"],
                System.Text.Encoding.UTF8.GetBytes(Message), new() { SmtpPort = 1, ResolvConf = resolv });
            Assert.That(report, Is.EqualTo("ZSorry, I couldn't find any host by that name. (#4.1.2)\n\\0"));
            Assert.That(garbage.Answered, Is.GreaterThan(0), "the server was asked and answered garbage");
        }
        finally
        {
            File.Delete(resolv);
        }
    }

    [Test]
    public void Nothing_we_asked_was_any_or_cname()
    {
        var types = DnsFixture.Server.QueryLog().Select(l => QueryType().Match(l)).Where(m => m.Success).Select(m => m.Groups[2].Value).ToHashSet();
        Assert.That(types, Does.Not.Contain("ANY").And.Not.Contain("CNAME"));
    }

    private static bool IsTcp(string line) => QueryType().Match(line).Groups[3].Value.Contains('T', StringComparison.Ordinal);

    private static IEnumerable<string> QueryLines(string name, string type) =>
        DnsFixture.Server.QueryLog().Where(l => QueryType().Match(l) is { Success: true } m
            && m.Groups[1].Value.Equals(name, StringComparison.OrdinalIgnoreCase) && m.Groups[2].Value == type);

    private static List<string> QueriesFor(string name) =>
        DnsFixture.Server.QueryLog().Select(l => QueryType().Match(l)).Where(m => m.Success && m.Groups[1].Value.Equals(name, StringComparison.OrdinalIgnoreCase))
            .Select(m => m.Groups[2].Value).ToList();

    // "query: NAME IN TYPE FLAGS (server)"
    [GeneratedRegex(@"query: (\S+) IN (\S+) (\S+)")]
    private static partial Regex QueryType();
}
