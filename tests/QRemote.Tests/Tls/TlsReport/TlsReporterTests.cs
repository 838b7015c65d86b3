using System.Globalization;
using System.IO.Compression;
using System.Net;
using System.Text;
using System.Text.Json;
using MimeKit;
using QRemote.Dns;
using QRemote.Report;
using QRemote.Tests.Infrastructure;
using QRemote.Tls;

namespace QRemote.Tests.Tls.TlsReport;

/// <summary>
/// <c>qremote --tls-report</c> against real peers: results recorded by real deliveries, the domains' <c>_smtp._tls</c>
/// records from BIND through Unbound, <c>mailto:</c> reports queued through a qmail-inject that keeps its argv and
/// standard input (and the message then accepted by a real Postfix smtpd), <c>https:</c> reports POSTed to a local TLS
/// server. The report's JSON is read back member by member against RFC 8460 4.4, the message against 5.3.
/// </summary>
[NonParallelizable]
public sealed class TlsReporterTests : IDisposable
{
    private const string Me = "mail.sender.test";
    private TlsReportFixture? _peers;

    private TlsReportFixture Peers => _peers!;

    private static DateOnly Today => DateOnly.FromDateTime(DateTime.UtcNow);

    private static string Day(DateOnly day) => day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    [OneTimeSetUp]
    public void Start() => _peers = new TlsReportFixture();

    public void Dispose() => _peers?.Dispose();

    /// <summary>A qmail home whose control/qremote-tlsrpt names a spool in it, and whose bin/qmail-inject records each call.</summary>
    private static (TempQmailHome Home, string Spool) NewHome()
    {
        var home = TempQmailHome.Create(Me);
        var spool = Path.Combine(home.Path, "tlsrpt", "spool");
        Directory.CreateDirectory(Path.GetDirectoryName(spool)!);
        home.WriteControl(TlsReportTarget.ControlFile, spool + "\n");
        Directory.CreateDirectory(Path.Combine(home.Path, "bin"));
        var inject = Path.Combine(home.Path, "bin", "qmail-inject");
        File.WriteAllText(inject, $"""
            #!/bin/sh
            d={home.Path}/injected
            mkdir -p "$d"
            n=$(ls "$d" | grep -c args)
            printf '%s\n' "$@" > "$d/$n.args"
            cat > "$d/$n.msg"
            exit 0

            """);
        File.SetUnixFileMode(inject, (UnixFileMode)0b111_101_101);
        return (home, spool);
    }

    private static List<(string[] Args, byte[] Message)> Injected(TempQmailHome home)
    {
        var directory = Path.Combine(home.Path, "injected");
        return !Directory.Exists(directory) ? [] : Directory.GetFiles(directory, "*.args")
            .OrderBy(f => int.Parse(Path.GetFileNameWithoutExtension(f), CultureInfo.InvariantCulture))
            .Select(f => (File.ReadAllLines(f), File.ReadAllBytes(Path.ChangeExtension(f, ".msg")))).ToList();
    }

    private async Task<(int Code, string Output)> ReportAsync(TempQmailHome home, TimeProvider? time = null, DateOnly? day = null, bool dryRun = false)
    {
        var output = new StringWriter();
        var code = await TlsReporter.RunAsync(new TlsReporterOptions
        {
            QmailHome = home.Path, Resolver = ResolverConfig.Load(Peers.ResolvConf), Output = output, Time = time ?? TimeProvider.System, Day = day, DryRun = dryRun,
            Roots = new(() => [Peers.Ca.Certificate]),
        }, CancellationToken.None);
        TestContext.Out.WriteLine(output.ToString());
        return (code, output.ToString());
    }

    private static JsonElement Gunzip(byte[] gzip)
    {
        using var input = new GZipStream(new MemoryStream(gzip), CompressionMode.Decompress);
        using var json = new MemoryStream();
        input.CopyTo(json);
        return JsonDocument.Parse(json.ToArray()).RootElement.Clone();
    }

    private static string[] Names(JsonElement element) => element.EnumerateObject().Select(p => p.Name).ToArray();

    [Test]
    public async Task A_completed_day_is_mailed_through_qmail_inject_once_as_rfc_8460_asks()
    {
        var (home, spool) = NewHome();
        using var _ = home;
        await Peers.DeliverAsync("good.rpt.test", spool);
        await Peers.DeliverAsync("good.rpt.test", spool);
        // A failure of the same policy, as a delivery elsewhere would have recorded it.
        var failed = new TlsReportEntry(DateTimeOffset.UtcNow, TlsReportPolicyType.Tlsa, ["3 1 1 " + Peers.EeHash], "good.rpt.test", "mx.good.rpt.test",
            IPAddress.Loopback, IPAddress.Parse("127.0.0.3"), TlsReportResult.CertificateExpired);
        File.AppendAllText(spool, Encoding.UTF8.GetString(failed.ToLine()));

        // Today is not over: nothing is sent, the rotated file is kept.
        var (code, output) = await ReportAsync(home);
        Assert.That(code, Is.Zero, output);
        Assert.That(Injected(home), Is.Empty);
        Assert.That(File.Exists(spool + ".1"), Is.True, output);
        Assert.That(File.Exists(spool), Is.False);

        var tomorrow = FakeClock.Ahead(TimeSpan.FromDays(1));
        (code, output) = await ReportAsync(home, tomorrow);
        Assert.That(code, Is.Zero, output);
        var injected = Injected(home);
        Assert.That(injected, Has.Count.EqualTo(1), output);
        Assert.That(injected[0].Args, Is.EqualTo(new[] { "-a", $"-fpostmaster@{Me}", "tlsrpt@reports.rpt.test" }));
        Assert.That(File.Exists(spool + ".1"), Is.False, "every day in it sent: removed");

        // RFC 8460 5.3: the message.
        var bytes = injected[0].Message;
        Assert.That(bytes, Does.Not.Contain((byte)'\r'), "qmail's form: LF line ends");
        var message = MimeMessage.Load(new MemoryStream(bytes));
        var reportId = $"{Day(Today)}.good.rpt.test@{Me}";
        Assert.That(message.Subject, Is.EqualTo($"Report Domain: good.rpt.test Submitter: {Me} Report-ID: <{reportId}>"));
        Assert.That(message.Headers["TLS-Report-Domain"], Is.EqualTo("good.rpt.test"));
        Assert.That(message.Headers["TLS-Report-Submitter"], Is.EqualTo(Me));
        Assert.That(message.Headers["TLS-Required"], Is.EqualTo("No"));
        Assert.That(message.From.Mailboxes.Single().Address, Is.EqualTo($"postmaster@{Me}"));
        Assert.That(message.To.Mailboxes.Single().Address, Is.EqualTo("tlsrpt@reports.rpt.test"));
        var body = (Multipart)message.Body!;
        Assert.That(body.ContentType.MimeType, Is.EqualTo("multipart/report"));
        Assert.That(body.ContentType.Parameters["report-type"], Is.EqualTo("tlsrpt"));
        Assert.That(body, Has.Count.EqualTo(2));
        Assert.That(((TextPart)body[0]).Text, Does.Contain("3 sessions, 1 of them failed"));
        var attachment = (MimePart)body[1];
        Assert.That(attachment.ContentType.MimeType, Is.EqualTo("application/tlsrpt+gzip"));
        var start = new DateTimeOffset(Today.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero).ToUnixTimeSeconds();
        Assert.That(attachment.FileName, Is.EqualTo($"{Me}!good.rpt.test!{start}!{start + 86399}.json.gz"));
        var gzip = new MemoryStream();
        attachment.Content!.DecodeTo(gzip);

        // RFC 8460 4.4: the report, member by member.
        var report = Gunzip(gzip.ToArray());
        Assert.That(Names(report), Is.EqualTo(new[] { "organization-name", "date-range", "contact-info", "report-id", "policies" }));
        Assert.That(report.GetProperty("organization-name").GetString(), Is.EqualTo(Me), "control/me when qremote-tlsrpt-org is missing");
        Assert.That(report.GetProperty("date-range").GetProperty("start-datetime").GetString(), Is.EqualTo($"{Day(Today)}T00:00:00Z"));
        Assert.That(report.GetProperty("date-range").GetProperty("end-datetime").GetString(), Is.EqualTo($"{Day(Today)}T23:59:59Z"));
        Assert.That(report.GetProperty("contact-info").GetString(), Is.EqualTo($"postmaster@{Me}"));
        Assert.That(report.GetProperty("report-id").GetString(), Is.EqualTo(reportId));
        var policy = report.GetProperty("policies").EnumerateArray().Single();
        Assert.That(Names(policy), Is.EqualTo(new[] { "policy", "summary", "failure-details" }));
        Assert.That(policy.GetProperty("policy").GetProperty("policy-type").GetString(), Is.EqualTo("tlsa"));
        Assert.That(policy.GetProperty("policy").GetProperty("policy-string").EnumerateArray().Select(s => s.GetString()), Is.EqualTo(new[] { "3 1 1 " + Peers.EeHash }));
        Assert.That(policy.GetProperty("policy").GetProperty("policy-domain").GetString(), Is.EqualTo("good.rpt.test"));
        Assert.That(policy.GetProperty("policy").GetProperty("mx-host").EnumerateArray().Select(s => s.GetString()), Is.EqualTo(new[] { "mx.good.rpt.test" }));
        Assert.That(policy.GetProperty("summary").GetProperty("total-successful-session-count").GetInt64(), Is.EqualTo(2));
        Assert.That(policy.GetProperty("summary").GetProperty("total-failure-session-count").GetInt64(), Is.EqualTo(1));
        var detail = policy.GetProperty("failure-details").EnumerateArray().Single();
        Assert.That(detail.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.ToString()), Is.EqualTo(new Dictionary<string, string>
        {
            ["result-type"] = "certificate-expired", ["sending-mta-ip"] = "127.0.0.1", ["receiving-mx-hostname"] = "mx.good.rpt.test",
            ["receiving-ip"] = "127.0.0.3", ["failed-session-count"] = "1",
        }));

        // Sent once: the same day's results, found again in a later file, are not sent again.
        await Peers.DeliverAsync("good.rpt.test", spool);
        (code, output) = await ReportAsync(home, tomorrow);
        Assert.That(output, Does.Contain($"good.rpt.test {Day(Today)}: sent already"));
        Assert.That(Injected(home), Has.Count.EqualTo(1));

        // What qmail would send: a real smtpd takes the message as qmail-inject got it.
        var delivered = await Harness.DeliverAsync(Harness.Literal(PostfixServer.DefaultAddress), $"postmaster@{Me}", ["tlsrpt@reports.rpt.test"], bytes,
            new() { SmtpPort = Peers.Port });
        Assert.That(delivered, Does.StartWith("r\\0K127.0.0.3 accepted message."));
        Peers.Postfix.WaitForLog($"message-id={message.Headers["Message-ID"]}");
    }

    [Test]
    public async Task An_https_destination_gets_one_post_of_the_gzip_report()
    {
        var (home, spool) = NewHome();
        using var _ = home;
        await Peers.DeliverAsync("sts.rpt.test", spool);
        var before = Peers.Receiver.Requests.Count;
        var (code, output) = await ReportAsync(home, day: Today);
        Assert.That(code, Is.Zero, output);
        Assert.That(output, Does.Contain($"sts.rpt.test {Day(Today)}: https://reports.rpt.test:{Peers.Receiver.Port}/tlsrpt: HTTP 200"));
        var requests = Peers.Receiver.Requests.Skip(before).ToList();
        Assert.That(requests, Has.Count.EqualTo(1));
        var (head, body) = requests[0];
        Assert.That(head, Does.StartWith("POST /tlsrpt HTTP/1.1\r\n"));
        Assert.That(head, Does.Contain("\r\nContent-Type: application/tlsrpt+gzip"));
        var report = Gunzip(body);
        var policy = report.GetProperty("policies").EnumerateArray().Single();
        Assert.That(policy.GetProperty("policy").GetProperty("policy-type").GetString(), Is.EqualTo("sts"));
        Assert.That(policy.GetProperty("policy").GetProperty("policy-string").EnumerateArray().Select(s => s.GetString()),
            Is.EqualTo(new[] { "version: STSv1", "mode: enforce", "mx: mx.sts.rpt.test", "mx: *.stsname.rpt.test", "max_age: 86400" }));
        Assert.That(policy.GetProperty("policy").GetProperty("mx-host").EnumerateArray().Select(s => s.GetString()), Is.EqualTo(new[] { "mx.sts.rpt.test", "*.stsname.rpt.test" }));
        Assert.That(policy.GetProperty("summary").GetProperty("total-successful-session-count").GetInt64(), Is.EqualTo(1));
        Assert.That(policy.GetProperty("summary").GetProperty("total-failure-session-count").GetInt64(), Is.Zero);
        Assert.That(policy.GetProperty("failure-details").GetArrayLength(), Is.Zero);
        Assert.That(Injected(home), Is.Empty);
    }

    [Test]
    public async Task A_refusing_https_receiver_is_retried_on_the_next_run_and_then_sent()
    {
        var (home, spool) = NewHome();
        using var _ = home;
        await Peers.DeliverAsync("sts.rpt.test", spool);
        Peers.Receiver.Status = "503 Service Unavailable";
        try
        {
            var (code, output) = await ReportAsync(home, day: Today);
            Assert.That(code, Is.EqualTo(1), "something left to retry");
            Assert.That(output, Does.Contain(": HTTP 503"));
            Assert.That(File.Exists(spool + ".1"), Is.True, "kept for the retry");
        }
        finally
        {
            Peers.Receiver.Status = "200 OK";
        }

        var (again, said) = await ReportAsync(home, day: Today);
        Assert.That(again, Is.Zero, said);
        Assert.That(said, Does.Contain(": HTTP 200"));
    }

    [Test]
    public async Task A_tlsrpt_record_without_a_usable_rua_sends_nothing()
    {
        var (home, spool) = NewHome();
        using var _ = home;
        await Peers.DeliverAsync("bad.rpt.test", spool);
        var (code, output) = await ReportAsync(home, day: Today);
        Assert.That(code, Is.Zero);
        Assert.That(output, Does.Contain("_smtp._tls.bad.rpt.test record not valid: rua= names no mailto: address or https: URL: nothing to send"));
        Assert.That(Injected(home), Is.Empty, "neither ftp: nor a mailto: address that qmail-inject would read as an option");
    }

    [Test]
    public async Task A_huge_rua_list_costs_at_most_the_first_five_destinations()
    {
        var (home, spool) = NewHome();
        using var _ = home;
        await Peers.DeliverAsync("stsout.rpt.test", spool);
        var (code, output) = await ReportAsync(home, day: Today);
        Assert.That(code, Is.Zero, output);
        Assert.That(Injected(home).Select(i => i.Args[^1]), Is.EqualTo(Enumerable.Range(1, TlsReportDnsRecord.MaxRua).Select(i => $"r{i}@reports.rpt.test")));
        Assert.That(output.Split('\n').Count(l => l.Contains("ignored", StringComparison.Ordinal)), Is.EqualTo(TlsReportFixture.HugeRuaCount - TlsReportDnsRecord.MaxRua));
    }

    [Test]
    public async Task A_dry_run_shows_the_report_and_changes_nothing()
    {
        var (home, spool) = NewHome();
        using var _ = home;
        await Peers.DeliverAsync("good.rpt.test", spool);
        var before = File.ReadAllBytes(spool);
        var (code, output) = await ReportAsync(home, day: Today, dryRun: true);
        Assert.That(code, Is.Zero);
        Assert.That(output, Does.Contain("\"policy-domain\": \"good.rpt.test\""));
        Assert.That(output, Does.Contain($"good.rpt.test {Day(Today)}: would send to mailto:tlsrpt@reports.rpt.test"));
        Assert.That(File.ReadAllBytes(spool), Is.EqualTo(before), "not rotated");
        Assert.That(Directory.GetFiles(Path.GetDirectoryName(spool)!).Select(Path.GetFileName), Is.EqualTo(new[] { "spool" }), "no lock, no state, no rotated file");
        Assert.That(Injected(home), Is.Empty);
    }

    [Test]
    public async Task A_link_planted_at_the_spool_path_is_neither_rotated_nor_read()
    {
        var (home, spool) = NewHome();
        using var _ = home;
        var victim = Path.Combine(home.Path, "victim");
        var line = new TlsReportEntry(DateTimeOffset.UtcNow, TlsReportPolicyType.Tlsa, [], "good.rpt.test", null, null, null, TlsReportResult.DnssecInvalid).ToLine();
        File.WriteAllBytes(victim, line);
        File.CreateSymbolicLink(spool, victim);
        var (code, output) = await ReportAsync(home, day: Today);
        Assert.That(code, Is.Zero, output);
        Assert.That(new FileInfo(spool).LinkTarget, Is.EqualTo(victim), "left where it is");
        Assert.That(File.ReadAllBytes(victim), Is.EqualTo(line));
        Assert.That(Injected(home), Is.Empty, "what the link points at is not a spool of ours");
    }

    [Test]
    public void A_spool_with_junk_and_oversized_lines_yields_only_its_real_entries()
    {
        var directory = Directory.CreateTempSubdirectory("qremote-tlsrpt-junk-").FullName;
        try
        {
            var good = new TlsReportEntry(new DateTimeOffset(2026, 12, 6, 10, 0, 0, TimeSpan.Zero), TlsReportPolicyType.Sts, ["version: STSv1"], "example.org",
                "mx.example.org", IPAddress.Loopback, IPAddress.IPv6Loopback, TlsReportResult.StsWebpkiInvalid);
            var file = Path.Combine(directory, "spool.1");
            using (var stream = File.Create(file))
            {
                stream.Write(good.ToLine());
                stream.Write("not json at all\n"u8);
                stream.Write("{}\n"u8);
                stream.Write("[1,2,3]\n"u8);
                stream.Write(Encoding.UTF8.GetBytes(good.ToLine().Length > 0 ? Encoding.UTF8.GetString(good.ToLine()).Replace("\"sts\"", "\"dmarc\"", StringComparison.Ordinal) : ""));
                stream.Write(Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(good.ToLine()).Replace("127.0.0.1", "not-an-address", StringComparison.Ordinal)));
                stream.Write(Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(good.ToLine()).Replace("sts-webpki-invalid", "everything-fine", StringComparison.Ordinal)));
                stream.Write(Encoding.ASCII.GetBytes(new string('x', 3 * TlsReportEntry.MaxLineBytes) + "\n"));
                stream.Write("\n"u8);
                stream.Write(good.ToLine());
                stream.Write(good.ToLine().AsSpan(0, 40));
            }

            var (entries, junk) = TlsReportSpool.Read(file)!.Value;
            Assert.That(entries, Is.EqualTo(new[] { good, good }).Using<TlsReportEntry>((a, b) => a.ToLine().AsSpan().SequenceEqual(b.ToLine())));
            Assert.That(junk, Is.EqualTo(8), "six bad lines, the oversized one, the cut-short last one (blank lines are not counted)");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Test]
    public void The_tlsrpt_record_grammar_of_rfc_8460_3()
    {
        Assert.That(TlsReportDnsRecord.Parse("v=TLSRPTv1; rua=mailto:a@example.org, https://r.example.org/x ;", out _)!.Rua.Select(u => u.OriginalString),
            Is.EqualTo(new[] { "mailto:a@example.org", "https://r.example.org/x" }));
        Assert.That(TlsReportDnsRecord.Parse("v=TLSRPTv1;rua=mailto:a%40b@example.org?subject=x;ext=1", out _)!.Rua.Select(TlsReportDnsRecord.MailtoAddress),
            Is.EqualTo(new[] { "a@b@example.org" }));
        Assert.That(TlsReportDnsRecord.Parse("v=TLSRPTv1x; rua=mailto:a@example.org", out var error), Is.Null);
        Assert.That(error, Is.EqualTo("does not start with v=TLSRPTv1;"));
        Assert.That(TlsReportDnsRecord.Parse("v=TLSRPTv1; ext=1", out error), Is.Null);
        Assert.That(error, Is.EqualTo("no rua="));
        Assert.That(TlsReportDnsRecord.Parse("v=TLSRPTv1; rua=mailto:a@example.org; rua=mailto:b@example.org", out error), Is.Null);
        Assert.That(error, Is.EqualTo("2 rua= fields"));
        Assert.That(TlsReportDnsRecord.Parse("v=TLSRPTv1; rua=http://r.example.org/,mailto:a b@example.org,mailto:nobody", out error), Is.Null);
        Assert.That(error, Is.EqualTo("rua= names no mailto: address or https: URL"));
    }

    [Test]
    public void The_person_options_parse()
    {
        var command = CommandLine.Parse(["--tls-report", "--dry-run", "--day", "2026-12-06"], _ => null);
        Assert.That((command.TlsReport, command.DryRun, command.Day, command.Error), Is.EqualTo((true, true, (DateOnly?)new DateOnly(2026, 12, 6), (string?)null)));
        Assert.That(CommandLine.Parse(["--tls-report", "--day", "yesterday"], _ => null).Error, Is.EqualTo("--day needs a date, YYYY-MM-DD"));
        Assert.That(CommandLine.ForQmailRemote(["--tls-report", "x", "y"], _ => null, null).TlsReport, Is.False, "qmail-remote reads positions only");
    }

    [Test]
    public void The_published_binary_records_its_delivery_and_mails_the_report()
    {
        // The whole chain as installed: control/qremote-tlsrpt read by a delivery process (AOT), one spool line, then
        // qremote --tls-report building the MimeKit message in the same binary.
        var (home, spool) = NewHome();
        using var _ = home;
        var delivery = ExternalProcess.RunToEnd(PublishedBinary.Path,
            [$"--qmail-home={home.Path}", $"--resolv-conf={Peers.ResolvConf}", $"--smtp-port={Peers.Port}", "good.rpt.test", "binary@rpt.test", "rcpt@good.rpt.test"],
            new() { Input = "Subject: binary\n\nhello\n"u8.ToArray(), Timeout = TimeSpan.FromSeconds(30) });
        Assert.That(delivery.Text, Does.StartWith("r\0K127.0.0.3 accepted message."), delivery.Errors);
        Assert.That(File.ReadAllText(spool), Does.Contain("\"policy-domain\":\"good.rpt.test\",\"mx-host\":\"mx.good.rpt.test\",\"sending-ip\":\"127.0.0.1\",\"receiving-ip\":\"127.0.0.3\",\"result\":\"success\"}\n"));
        var report = ExternalProcess.RunToEnd(PublishedBinary.Path,
            [$"--qmail-home={home.Path}", $"--resolv-conf={Peers.ResolvConf}", "--tls-report", "--day", Day(Today)], new() { Timeout = TimeSpan.FromSeconds(30) });
        Assert.That(report.ExitCode, Is.Zero, report.Text + report.Errors);
        Assert.That(report.Text, Does.Contain($"good.rpt.test {Day(Today)}: mailto:tlsrpt@reports.rpt.test: queued by qmail-inject"));
        var injected = Injected(home).Single();
        var message = MimeMessage.Load(new MemoryStream(injected.Message));
        Assert.That(message.Headers["TLS-Required"], Is.EqualTo("No"));
        var attachment = (MimePart)((Multipart)message.Body!)[1];
        var gzip = new MemoryStream();
        attachment.Content!.DecodeTo(gzip);
        Assert.That(Gunzip(gzip.ToArray()).GetProperty("policies")[0].GetProperty("summary").GetProperty("total-successful-session-count").GetInt64(), Is.EqualTo(1));
    }

    [Test]
    public async Task Without_the_control_file_there_is_nothing_to_do()
    {
        using var home = TempQmailHome.Create(Me);
        var (code, output) = await ReportAsync(home);
        Assert.That(code, Is.Zero);
        Assert.That(output, Is.EqualTo("control/qremote-tlsrpt names no spool: TLS results are not recorded, no report to send\n"));
    }
}
