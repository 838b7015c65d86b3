using System.Net.Sockets;
using System.Text.Json;
using QRemote.Tls;

namespace QRemote.Tests.Tls.TlsReport;

/// <summary>
/// What each delivery records (docs/tls-reporting.md): one spool line per session under DANE or MTA-STS and per policy
/// that could not be applied, with RFC 8460's result type as decided where the failure was seen. Real deliveries to
/// Postfix under real DANE (signed BIND, validating Unbound) and MTA-STS (openssl s_server); the lines read back field
/// by field. Without a policy nothing is recorded; a link planted at the spool path is never written through.
/// </summary>
[NonParallelizable]
public sealed class TlsReportRecordingTests : IDisposable
{
    private TlsReportFixture? _peers;
    private string _directory = "";

    private TlsReportFixture Peers => _peers!;

    [OneTimeSetUp]
    public void Start()
    {
        _peers = new TlsReportFixture();
        _directory = Directory.CreateTempSubdirectory("qremote-tlsrpt-").FullName;
    }

    public void Dispose()
    {
        _peers?.Dispose();
        if (_directory.Length > 0)
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    private string NewSpool() => Path.Combine(_directory, $"spool-{Guid.NewGuid():N}");

    private static List<JsonElement> Lines(string spool) =>
        File.ReadAllLines(spool).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();

    private static Dictionary<string, string> Fields(JsonElement line) =>
        line.EnumerateObject().Where(p => p.Name is not "time" and not "policy-string").ToDictionary(p => p.Name, p => p.Value.GetString()!);

    [TestCase("good", "success", "K")]
    [TestCase("bad", "validation-failure", "Z")]
    [TestCase("notls", "starttls-not-supported", "Z")]
    public async Task A_delivery_under_dane_records_one_session_with_its_rfc_8460_result(string name, string result, string letter)
    {
        var spool = NewSpool();
        var domain = $"{name}.rpt.test";
        var report = await Peers.DeliverAsync(domain, spool);
        Assert.That(report, Does.Contain("\\0" + letter).Or.StartWith(letter));
        var lines = Lines(spool);
        Assert.That(lines, Has.Count.EqualTo(1), File.ReadAllText(spool));
        Assert.That(Fields(lines[0]), Is.EqualTo(new Dictionary<string, string>
        {
            ["policy-type"] = "tlsa", ["policy-domain"] = domain, ["mx-host"] = $"mx.{domain}", ["sending-ip"] = "127.0.0.1",
            ["receiving-ip"] = name == "notls" ? TlsReportFixture.NoTlsAddress.ToString() : "127.0.0.3", ["result"] = result,
        }));
        var tlsa = lines[0].GetProperty("policy-string").EnumerateArray().Select(s => s.GetString()).ToList();
        Assert.That(tlsa, Has.Count.EqualTo(1));
        Assert.That(tlsa[0], name == "bad" ? Does.StartWith("3 1 1 ").And.Not.Contains(Peers.EeHash) : Is.EqualTo("3 1 1 " + Peers.EeHash));
    }

    [Test]
    public async Task The_spool_line_is_one_compact_json_object_in_the_documented_form()
    {
        var spool = NewSpool();
        await Peers.DeliverAsync("good.rpt.test", spool);
        var text = File.ReadAllText(spool);
        Assert.That(text, Does.Match(
            "^\\{\"time\":\"\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ\",\"policy-type\":\"tlsa\",\"policy-string\":\\[\"3 1 1 " + Peers.EeHash
            + "\"\\],\"policy-domain\":\"good.rpt.test\",\"mx-host\":\"mx.good.rpt.test\",\"sending-ip\":\"127.0.0.1\",\"receiving-ip\":\"127.0.0.3\",\"result\":\"success\"\\}\n$"));
        Assert.That(File.GetUnixFileMode(spool), Is.EqualTo((UnixFileMode)0b110_100_000), "created 0640");
    }

    [Test]
    public async Task A_failed_tlsa_lookup_records_dnssec_invalid_for_the_exchanger_not_tried()
    {
        var spool = NewSpool();
        var report = await Peers.DeliverAsync("fail.rpt.test", spool);
        Assert.That(report, Does.StartWith("ZNo mail exchanger can be used under the TLS policy: DANE:"));
        var lines = Lines(spool);
        Assert.That(lines, Has.Count.EqualTo(1));
        Assert.That(Fields(lines[0]), Is.EqualTo(new Dictionary<string, string>
        {
            ["policy-type"] = "tlsa", ["policy-domain"] = "fail.rpt.test", ["mx-host"] = "mx.fail.rpt.test", ["result"] = "dnssec-invalid",
        }), "no addresses: nothing was connected to");
        Assert.That(lines[0].GetProperty("policy-string").GetArrayLength(), Is.Zero);
    }

    [TestCase("sts", "success", "127.0.0.3")]
    [TestCase("stsname", "certificate-host-mismatch", "127.0.0.92")]
    public async Task A_delivery_under_mta_sts_records_one_session_with_the_policy_lines(string name, string result, string receiving)
    {
        var spool = NewSpool();
        var domain = $"{name}.rpt.test";
        await Peers.DeliverAsync(domain, spool);
        var lines = Lines(spool);
        Assert.That(lines, Has.Count.EqualTo(1), File.ReadAllText(spool));
        Assert.That(Fields(lines[0]), Is.EqualTo(new Dictionary<string, string>
        {
            ["policy-type"] = "sts", ["policy-domain"] = domain, ["mx-host"] = $"mx.{domain}", ["sending-ip"] = "127.0.0.1", ["receiving-ip"] = receiving, ["result"] = result,
        }));
        Assert.That(lines[0].GetProperty("policy-string").EnumerateArray().Select(s => s.GetString()),
            Is.EqualTo(new[] { "version: STSv1", "mode: enforce", "mx: mx.sts.rpt.test", "mx: *.stsname.rpt.test", "max_age: 86400" }));
    }

    [Test]
    public async Task An_mx_outside_the_mta_sts_policy_records_validation_failure()
    {
        var spool = NewSpool();
        var report = await Peers.DeliverAsync("stsout.rpt.test", spool);
        Assert.That(report, Does.StartWith("ZNo mail exchanger can be used under the TLS policy: MTA-STS"));
        var lines = Lines(spool);
        Assert.That(lines, Has.Count.EqualTo(1));
        Assert.That(Fields(lines[0]), Is.EqualTo(new Dictionary<string, string>
        {
            ["policy-type"] = "sts", ["policy-domain"] = "stsout.rpt.test", ["mx-host"] = "mx.stsout.rpt.test", ["result"] = "validation-failure",
        }));
    }

    [Test]
    public async Task A_policy_that_cannot_be_fetched_records_sts_policy_fetch_error_and_the_mail_still_goes()
    {
        var spool = NewSpool();
        var report = await Peers.DeliverAsync("stsfetch.rpt.test", spool, "fetch@rpt.test");
        Assert.That(report, Does.StartWith("r\\0K127.0.0.3 accepted message."), "no policy: opportunistic, delivered");
        var lines = Lines(spool);
        Assert.That(lines, Has.Count.EqualTo(1), "the opportunistic session after it is not reported");
        Assert.That(Fields(lines[0]), Is.EqualTo(new Dictionary<string, string>
        {
            ["policy-type"] = "sts", ["policy-domain"] = "stsfetch.rpt.test", ["result"] = "sts-policy-fetch-error",
        }));
    }

    [Test]
    public async Task Without_a_policy_nothing_is_recorded_and_no_spool_is_made()
    {
        var spool = NewSpool();
        var report = await Peers.DeliverAsync("plain.rpt.test", spool);
        Assert.That(report, Does.StartWith("r\\0K127.0.0.3 accepted message."));
        Assert.That(File.Exists(spool), Is.False);
    }

    [Test]
    public async Task A_link_planted_at_the_spool_path_is_never_written_through_and_the_delivery_is_unchanged()
    {
        var victim = Path.Combine(_directory, $"victim-{Guid.NewGuid():N}");
        File.WriteAllText(victim, "precious\n");
        var spool = NewSpool();
        File.CreateSymbolicLink(spool, victim);
        var report = await Peers.DeliverAsync("good.rpt.test", spool);
        Assert.That(report, Does.StartWith("r\\0K127.0.0.3 accepted message."));
        Assert.That(File.ReadAllText(victim), Is.EqualTo("precious\n"));
    }

    [Test]
    public async Task An_unwritable_spool_changes_nothing_in_the_delivery()
    {
        var report = await Peers.DeliverAsync("good.rpt.test", Path.Combine(_directory, "no-such-dir", "spool"));
        Assert.That(report, Does.StartWith("r\\0K127.0.0.3 accepted message."));
    }

    [Test]
    public async Task Tlsrpt_collectd_gets_one_datagram_per_result_in_libtlsrpt_format()
    {
        var socketPath = Path.Combine(_directory, $"collectd-{Guid.NewGuid():N}.sock");
        using var collectd = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        collectd.Bind(new UnixDomainSocketEndPoint(socketPath));
        collectd.ReceiveTimeout = 10_000;
        var recorder = new TlsReportRecorder(TlsReportTarget.Parse("unix:" + socketPath)!, TimeProvider.System);
        await Peers.DeliverAsync("bad.rpt.test", recorder);
        var buffer = new byte[65536];
        var length = collectd.Receive(buffer);
        var datagram = JsonDocument.Parse(buffer.AsMemory(0, length)).RootElement;
        Assert.That(datagram.EnumerateObject().Select(p => p.Name), Is.EqualTo(new[] { "dpv", "d", "pr", "policies" }));
        Assert.That(datagram.GetProperty("dpv").GetString(), Is.EqualTo("1"));
        Assert.That(datagram.GetProperty("d").GetString(), Is.EqualTo("bad.rpt.test"));
        Assert.That(datagram.GetProperty("pr").GetString(), Is.EqualTo("v=TLSRPTv1; rua=ftp://reports.rpt.test/tlsrpt,mailto:-oops@reports.rpt.test"),
            "the domain's TLSRPT record as published: tlsrpt-reportd sends to its rua");
        var policy = datagram.GetProperty("policies").EnumerateArray().Single();
        Assert.That(policy.EnumerateObject().Select(p => p.Name), Is.EqualTo(new[] { "policy-type", "policy-domain", "policy-string", "failure-details", "t", "f" }));
        Assert.That(policy.GetProperty("policy-type").GetInt32(), Is.EqualTo(1), "TLSRPT_POLICY_TLSA");
        Assert.That(policy.GetProperty("policy-domain").GetString(), Is.EqualTo("bad.rpt.test"));
        Assert.That(policy.GetProperty("t").GetInt32(), Is.EqualTo(1));
        Assert.That(policy.GetProperty("f").GetInt32(), Is.EqualTo(1), "TLSRPT_FINAL_FAILURE");
        var failure = policy.GetProperty("failure-details").EnumerateArray().Single();
        Assert.That(failure.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.ToString()), Is.EqualTo(new Dictionary<string, string>
        {
            ["c"] = "205", ["s"] = "127.0.0.1", ["n"] = "mx.bad.rpt.test", ["r"] = "127.0.0.3",
        }), "TLSRPT_VALIDATION_FAILURE, sending IP, MX name, receiving IP");
        collectd.ReceiveTimeout = 300;
        Assert.That(() => collectd.Receive(buffer), Throws.InstanceOf<SocketException>(), "one result, one datagram");
    }

    [Test]
    public async Task A_domain_without_a_tlsrpt_record_sends_no_datagram_and_a_dead_collectd_changes_nothing()
    {
        var socketPath = Path.Combine(_directory, $"collectd-{Guid.NewGuid():N}.sock");
        using var collectd = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        collectd.Bind(new UnixDomainSocketEndPoint(socketPath));
        collectd.ReceiveTimeout = 1000;
        // stsname has no _smtp._tls record: nobody to send its report to, so tlsrpt-collectd gets nothing.
        await Peers.DeliverAsync("stsname.rpt.test", new TlsReportRecorder(TlsReportTarget.Parse("unix:" + socketPath)!, TimeProvider.System));
        Assert.That(() => collectd.Receive(new byte[65536]), Throws.InstanceOf<SocketException>());
        var report = await Peers.DeliverAsync("good.rpt.test", new TlsReportRecorder(TlsReportTarget.Parse("unix:" + Path.Combine(_directory, "nobody.sock"))!, TimeProvider.System));
        Assert.That(report, Does.StartWith("r\\0K127.0.0.3 accepted message."));
    }
}
