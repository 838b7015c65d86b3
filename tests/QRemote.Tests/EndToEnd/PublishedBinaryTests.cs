using System.Net;
using QRemote.Tests.Infrastructure;

namespace QRemote.Tests.EndToEnd;

/// <summary>
/// The published Native AOT binary, run exactly as qmail-rspawn runs it (stdin the message file,
/// stdout and stderr one pipe, env - PATH=..., user nobody, an unwritable cwd), inside a network
/// namespace of the test's own where BIND9 answers on 127.0.0.1:53 (through the namespace's
/// resolv.conf) and Postfix's smtp-sink listens on port 25. Output is read with qmail-rspawn's rules.
/// </summary>
[NonParallelizable]
public sealed class PublishedBinaryTests
{
    private NetworkNamespace _netns = null!;
    private Bind _bind = null!;
    private TempQmailHome _home = null!;
    private string _message = "";

    [OneTimeSetUp]
    public void CreateWorld()
    {
        var (netns, why) = NetworkNamespace.TryCreate();
        if (netns is null)
        {
            Assert.Fail($"the end-to-end tests need a network namespace: {why}");
        }

        _netns = netns!;
        _bind = Bind.Start(
            new Dictionary<string, string?> { ["qremote.test"] = DnsFixture.Zone(), ["broken.test"] = null },
            new HashSet<string> { "qremote.test" }, IPAddress.Loopback, netns: _netns);
        _home = TempQmailHome.Create();
        _message = Path.Combine(_home.Path, "message");
        File.WriteAllText(_message, "From: s@qremote.test\nSubject: end to end\n\n.a dotted line\nbody\n");
        _ = PublishedBinary.Path;
    }

    [OneTimeTearDown]
    public void DestroyWorld()
    {
        _bind?.Dispose();
        _netns?.Dispose();
        _home?.Dispose();
    }

    private RspawnResult Deliver(string domain, string? sinkAddress, params string[] sinkOptions)
    {
        var sink = sinkAddress is null ? null : SmtpSink.StartOn(_netns, IPAddress.Parse(sinkAddress), 25, sinkOptions);
        using (sink)
        {
            var result = QmailRspawn.Run(_home.Path, _message, [domain, "s@qremote.test", $"rcpt@{domain}"], _netns);
            TestContext.Out.WriteLine(result.Shown);
            if (sink is not null && result.Letter == 'K')
            {
                WaitFor.Condition(() => sink.Dumps().Count > 0, "the sink's dump");
                Assert.That(sink.Dumps().Single(), Does.Contain("X-Rcpt-Args: <rcpt@" + domain + ">").And.EndWith("Subject: end to end\n\n.a dotted line\nbody\n\n"));
            }

            return result;
        }
    }

    private static string Accepted(string ip) => $"r\\0K{ip} accepted message.\nRemote host said: 250 2.0.0 Ok\nTLS: none offered\n\\0";

    [Test]
    public void Plain_mx()
    {
        var r = Deliver("plain.qremote.test", "127.0.0.10");
        Assert.That((r.Shown, r.Letter, r.ExitCode), Is.EqualTo((Accepted("127.0.0.10"), 'K', 0)));
    }

    [Test]
    public void Cname_chain_to_an_mx_domain() =>
        Assert.That(Deliver("alias1.qremote.test", "127.0.0.11").Shown, Is.EqualTo(Accepted("127.0.0.11")));

    [Test]
    public void Mx_target_that_is_a_cname() =>
        Assert.That(Deliver("mxcname.qremote.test", "127.0.0.12").Shown, Is.EqualTo(Accepted("127.0.0.12")));

    [Test]
    public void Signed_answer_over_1232_bytes_via_tcp()
    {
        Assert.That(Deliver("big.qremote.test", "127.0.0.21").Shown, Is.EqualTo(Accepted("127.0.0.21")));
        var mx = _bind.QueryLog().Where(l => l.Contains("query: big.qremote.test IN MX ", StringComparison.Ordinal)).ToList();
        Assert.That(mx.Select(l => l.Split(" IN MX ")[1].Split(' ')[0]), Has.Some.Contains('T'), "MX asked again over TCP:\n" + string.Join("\n", mx));
    }

    [Test]
    public void Answer_over_512_bytes_over_udp_with_edns() =>
        Assert.That(Deliver("mid.qremote.test", "127.0.0.22").Shown, Is.EqualTo(Accepted("127.0.0.22")));

    [Test]
    public void Equal_preferences_are_both_used_across_deliveries()
    {
        using var a = SmtpSink.StartOn(_netns, IPAddress.Parse("127.0.0.15"), 25);
        using var b = SmtpSink.StartOn(_netns, IPAddress.Parse("127.0.0.16"), 25);
        var used = new HashSet<string>();
        for (var run = 0; run < 30 && used.Count < 2; run++)
        {
            var r = QmailRspawn.Run(_home.Path, _message, ["equal.qremote.test", "s@qremote.test", "r@equal.qremote.test"], _netns);
            Assert.That(r.Letter, Is.EqualTo('K'), r.Shown);
            used.Add(r.Shown.Split(' ')[0]);
        }

        Assert.That(used, Is.EquivalentTo(new[] { "r\\0K127.0.0.15", "r\\0K127.0.0.16" }));
    }

    [Test]
    public void Nameserver_that_never_answers_defers_in_bounded_time()
    {
        // A "nameserver" inside the namespace that takes UDP queries and TCP connections and never answers.
        const string silent = "import socket,time\n" +
            "u=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);u.bind(('127.0.0.9',53))\n" +
            "t=socket.socket();t.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);t.bind(('127.0.0.9',53));t.listen(16)\n" +
            "held=[]\n" +
            "while True: held.append(t.accept())\n";
        using var server = _netns.Start("/usr/bin/python3", ["-c", silent]);
        _netns.WaitForListener("127.0.0.9", 53, server);
        var resolv = Path.Combine(_netns.EtcDirectory, "resolv.conf");
        var original = File.ReadAllText(resolv);
        File.WriteAllText(resolv, "nameserver 127.0.0.9\noptions timeout:1 attempts:1\n");
        try
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var r = QmailRspawn.Run(_home.Path, _message, ["plain.qremote.test", "s@qremote.test", "r@plain.qremote.test"], _netns);
            Assert.That((r.Shown, r.Letter), Is.EqualTo(("ZSorry, I couldn't find any host by that name. (#4.1.2)\n\\0", 'Z')));
            Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(30)));
        }
        finally
        {
            File.WriteAllText(resolv, original);
        }
    }

    [Test]
    public void Aaaa_only_exchanger_over_ipv6() =>
        Assert.That(Deliver("v6ula.qremote.test", "fd51::25").Shown, Is.EqualTo(Accepted("fd51::25")));

    [Test]
    public void Nodata_implicit_mx() =>
        Assert.That(Deliver("nodata.qremote.test", "127.0.0.14").Shown, Is.EqualTo(Accepted("127.0.0.14")));

    [Test]
    public void Null_mx()
    {
        var r = Deliver("nullmxa.qremote.test", null);
        Assert.That((r.Shown, r.Letter), Is.EqualTo(("DSorry, nullmxa.qremote.test does not accept mail: it publishes a null MX. (#5.1.10)\n\\0", 'D')));
    }

    [Test]
    public void Nxdomain()
    {
        var r = Deliver("nonexistent.qremote.test", null);
        Assert.That((r.Shown, r.Letter), Is.EqualTo(("DSorry, I couldn't find any host named nonexistent.qremote.test. (#5.1.2)\n\\0", 'D')));
    }

    [Test]
    public void Servfail()
    {
        var r = Deliver("x.broken.test", null);
        Assert.That((r.Shown, r.Letter), Is.EqualTo(("ZSorry, I couldn't find any host by that name. (#4.1.2)\n\\0", 'Z')));
    }

    [Test]
    public void Cname_loop()
    {
        var r = Deliver("loop1.qremote.test", null);
        Assert.That((r.Shown, r.Letter), Is.EqualTo(("ZSorry, I couldn't find any host by that name. (#4.1.2)\n\\0", 'Z')));
    }

    [Test]
    public void Mx_is_this_host()
    {
        var r = Deliver("self.qremote.test", null);
        Assert.That(r.Letter, Is.EqualTo('D'));
        Assert.That(r.Shown, Does.EndWith("(#5.4.6)\n\\0"));
    }

    [Test]
    public void Literal_on_port_25_with_a_rejected_recipient()
    {
        var r = Deliver("[127.0.0.30]", "127.0.0.30", "-f", "RCPT");
        Assert.That((r.Shown, r.Letter), Is.EqualTo((
            "h127.0.0.30 does not like recipient.\nRemote host said: 500 5.3.0 Error: command failed\n\\0DGiving up on 127.0.0.30.\n\\0", 'D')));
    }

    [Test]
    public void Smtproutes_relay_by_name_resolved_without_mx()
    {
        File.WriteAllText(_home.Control("smtproutes"), "routed.example:mx1.plain.qremote.test\n");
        try
        {
            var r = Deliver("routed.example", "127.0.0.10");
            Assert.That(r.Shown, Is.EqualTo(Accepted("127.0.0.10")));
            Assert.That(_bind.QueryLog().Where(l => l.Contains("routed.example", StringComparison.Ordinal)), Is.Empty, "no MX for a routed domain");
        }
        finally
        {
            File.Delete(_home.Control("smtproutes"));
        }
    }

    [Test]
    public void Smtproutes_literal_relay_with_port()
    {
        File.WriteAllText(_home.Control("smtproutes"), ":[127.0.0.31]:2525\n");
        try
        {
            using var sink = SmtpSink.StartOn(_netns, IPAddress.Parse("127.0.0.31"), 2525);
            var r = QmailRspawn.Run(_home.Path, _message, ["anywhere.example", "s@qremote.test", "rcpt@anywhere.example"], _netns);
            Assert.That(r.Shown, Is.EqualTo(Accepted("127.0.0.31")));
        }
        finally
        {
            File.Delete(_home.Control("smtproutes"));
        }
    }

    [Test]
    public void Message_from_a_pipe_is_spooled_outside_the_unwritable_cwd()
    {
        using var sink = SmtpSink.StartOn(_netns, IPAddress.Parse("127.0.0.10"), 25);
        var r = QmailRspawn.Run(_home.Path, _message, ["plain.qremote.test", "s@qremote.test", "rcpt@plain.qremote.test"], _netns, stdinFromPipe: true);
        Assert.That(r.Shown, Is.EqualTo(Accepted("127.0.0.10")));
        WaitFor.Condition(() => sink.Dumps().Count > 0, "the sink's dump");
        Assert.That(sink.Dumps().Single(), Does.EndWith("Subject: end to end\n\n.a dotted line\nbody\n\n"));
    }

    [Test]
    public void One_json_event_per_delivery_without_the_message_in_it()
    {
        var logDir = Directory.CreateTempSubdirectory("qremote-logs-").FullName;
        File.SetUnixFileMode(logDir, (UnixFileMode)0b111_111_111);
        var log = Path.Combine(logDir, "deliveries.json");
        var control = _home.Control("qremote-log");
        File.WriteAllText(control, $"{log} debug\n");
        try
        {
            var r = Deliver("plain.qremote.test", "127.0.0.10");
            Assert.That(r.Letter, Is.EqualTo('K'));
            var lines = File.ReadAllLines(log);
            Assert.That(lines, Has.Length.EqualTo(1));
            var e = System.Text.Json.JsonDocument.Parse(lines[0]).RootElement;
            Assert.That(e.GetProperty("Host").GetString(), Is.EqualTo("plain.qremote.test"));
            Assert.That(e.GetProperty("Sender").GetString(), Is.EqualTo("s@qremote.test"));
            Assert.That(e.GetProperty("Recipients")[0].GetProperty("Letter").GetString(), Is.EqualTo("r"));
            Assert.That(e.GetProperty("Route").GetString(), Is.EqualTo("MX"));
            Assert.That(e.GetProperty("Address").GetString(), Is.EqualTo("127.0.0.10"));
            Assert.That(e.GetProperty("Exchanger").GetString(), Is.EqualTo("mx1.plain.qremote.test"));
            Assert.That(e.GetProperty("Reply").GetString(), Is.EqualTo("250 2.0.0 Ok"));
            Assert.That(e.GetProperty("EnhancedCode").GetString(), Is.EqualTo("2.0.0"));
            Assert.That(e.GetProperty("Letter").GetString(), Is.EqualTo("K"));
            Assert.That(e.GetProperty("Delays").GetProperty("Total").GetDouble(), Is.GreaterThan(0));
            var transcript = e.GetProperty("Transcript").GetString();
            Assert.That(transcript, Does.Contain("C: MAIL FROM:<s@qremote.test>").And.Contain("bytes of message data, not shown"));
            Assert.That(transcript, Does.Not.Contain("dotted line"), "the message never goes into the log");
            Assert.That(Convert.ToString((int)File.GetUnixFileMode(log), 8), Is.EqualTo("640"));
        }
        finally
        {
            File.Delete(control);
            Directory.Delete(logDir, recursive: true);
        }
    }

    [Test]
    public void An_unwritable_log_never_changes_the_outcome()
    {
        var control = _home.Control("qremote-log");
        File.WriteAllText(control, "/proc/qremote-cannot-write-here.json\n");
        try
        {
            Assert.That(Deliver("plain.qremote.test", "127.0.0.10").Shown, Is.EqualTo(Accepted("127.0.0.10")));
        }
        finally
        {
            File.Delete(control);
        }
    }

    [Test]
    public void Plan_shows_the_route_and_addresses_without_connecting()
    {
        var r = QmailRspawn.Run(_home.Path, _message, ["backup.qremote.test"], _netns, ["--plan"]);
        var text = System.Text.Encoding.UTF8.GetString(r.Output);
        Assert.That(text, Does.Contain("route:       MX\n"));
        Assert.That(text, Does.Contain("  127.0.0.19 ").And.Contain("dead.backup.qremote.test (preference 10)  DNSSEC: insecure"));
        Assert.That(text.IndexOf("127.0.0.19", StringComparison.Ordinal), Is.LessThan(text.IndexOf("127.0.0.20", StringComparison.Ordinal)));
        Assert.That(text, Does.Contain("\n  dead.backup.qremote.test: Opportunistic (no policy file: opportunistic)\n"));

        var nx = System.Text.Encoding.UTF8.GetString(QmailRspawn.Run(_home.Path, _message, ["nonexistent.qremote.test"], _netns, ["--plan"]).Output);
        Assert.That(nx, Does.Contain("result:      D Sorry, I couldn't find any host named nonexistent.qremote.test. (#5.1.2)"));
    }

    [Test]
    public void Tcpto_skips_an_address_that_timed_out_twice_recently()
    {
        // netqmail's queue/lock/tcpto, with 127.0.0.19 (backup's preferred exchanger) recorded as timed
        // out twice a minute ago. Both exchangers answer: only the record can send the mail to the second.
        var lockDir = Path.Combine(_home.Path, "queue", "lock");
        Directory.CreateDirectory(lockDir);
        var tcpto = Path.Combine(lockDir, "tcpto");
        var table = new byte[1024];
        new byte[] { 127, 0, 0, 19 }.CopyTo(table, 0);
        table[4] = 2;
        BitConverter.GetBytes((uint)(DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 60)).CopyTo(table, 8);
        File.WriteAllBytes(tcpto, table);
        File.SetUnixFileMode(tcpto, (UnixFileMode)0b110_110_110);
        try
        {
            using var first = SmtpSink.StartOn(_netns, IPAddress.Parse("127.0.0.19"), 25);
            var r = Deliver("backup.qremote.test", "127.0.0.20");
            Assert.That(r.Shown, Is.EqualTo(Accepted("127.0.0.20")));
            Assert.That(first.Dumps(), Is.Empty);
        }
        finally
        {
            File.Delete(tcpto);
        }
    }

    [Test]
    public void Invoked_improperly()
    {
        var r = QmailRspawn.Run(_home.Path, _message, ["only-a-host"], _netns);
        Assert.That((r.Shown, r.Letter, r.ExitCode), Is.EqualTo(("DI (qmail-remote) was invoked improperly. (#5.3.5)\n\\0", 'D', 0)));
    }

    [Test]
    public void Unreadable_control_files_defer()
    {
        // A qmail home of the test's own whose control directory qmailr (here nobody) cannot read. Not a home that
        // does not exist: from a working directory outside any queue, qremote takes /var/qmail, and on a host with
        // qmail installed that delivered instead.
        var home = TempQmailHome.Create();
        try
        {
            File.SetUnixFileMode(home.Control(), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            var message = Path.Combine(home.Path, "message");
            File.Copy(_message, message);
            var r = QmailRspawn.Run(home.Path, message, ["plain.qremote.test", "s@qremote.test", "r@plain.qremote.test"], _netns);
            Assert.That((r.Shown, r.Letter), Is.EqualTo(("ZUnable to read control files. (#4.3.0)\n\\0", 'Z')));
        }
        finally
        {
            home.Dispose();
        }
    }

    [Test]
    public void Query_log_has_no_any_and_no_cname_queries()
    {
        Deliver("alias1.qremote.test", "127.0.0.11");
        var log = _bind.QueryLog();
        Assert.That(log, Is.Not.Empty);
        Assert.That(log.Where(l => l.Contains(" IN ANY ", StringComparison.Ordinal) || l.Contains(" IN CNAME ", StringComparison.Ordinal)), Is.Empty);
    }
}
