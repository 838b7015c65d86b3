using System.Net;
using System.Text;
using QRemote.Tests.Infrastructure;

namespace QRemote.Tests.Message;

/// <summary>
/// Messages go out byte for byte: each corpus message is delivered to Postfix's smtp-sink through a
/// recorder that keeps the exact bytes on the wire, and the DATA payload is compared with the
/// expected wire form written out by hand (LF to CRLF, dots stuffed, nothing else changed).
/// </summary>
public sealed class CorpusTests
{
    private static readonly IPAddress Sink = IPAddress.Parse("127.0.0.2");
    private static readonly Encoding Latin1 = Encoding.Latin1;

    public static IEnumerable<TestCaseData> Corpus()
    {
        static TestCaseData Case(string name, string input, string wire) => new TestCaseData(input, wire).SetName(name);

        yield return Case("plain", "From: a@b\nTo: c@d\nSubject: hi\n\nhello\n", "From: a@b\r\nTo: c@d\r\nSubject: hi\r\n\r\nhello\r\n");
        yield return Case("mixed CRLF and LF", "Subject: x\r\n\nline1\r\nline2\n", "Subject: x\r\n\r\nline1\r\nline2\r\n");
        yield return Case("leading dots", "Subject: x\n\n.\n..\n.hidden\nnot.first\n", "Subject: x\r\n\r\n..\r\n...\r\n..hidden\r\nnot.first\r\n");
        yield return Case("bare CR before a dot", "Subject: x\n\nx\r.\nend\n", "Subject: x\r\n\r\nx\r\n..\r\nend\r\n");
        yield return Case("8-bit without MIME", "Subject: caf\xe9\n\nna\xefve \xff\xfe\n", "Subject: caf\xe9\r\n\r\nna\xefve \xff\xfe\r\n");
        yield return Case("no blank line", "Subject: x\nX-Other: y\n", "Subject: x\r\nX-Other: y\r\n");
        yield return Case("no headers", "just a body line\nand another\n", "just a body line\r\nand another\r\n");
        yield return Case("raw UTF-8 headers", "Subject: \u00c3\u00a9t\u00c3\u00a9\nFrom: J\u00c3\u00b6rg <j@x>\n\nb\n", "Subject: \u00c3\u00a9t\u00c3\u00a9\r\nFrom: J\u00c3\u00b6rg <j@x>\r\n\r\nb\r\n");
        yield return Case("multipart with preamble and epilogue",
            "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n\npreamble\n--b\nContent-Type: text/plain\n\npart\n--b--\nepilogue\n",
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\npreamble\r\n--b\r\nContent-Type: text/plain\r\n\r\npart\r\n--b--\r\nepilogue\r\n");
        yield return Case("folded DKIM-style header",
            "DKIM-Signature: v=1; a=rsa-sha256;\n\td=example.com; s=sel;\n\tb=abc\n   def\nSubject: x\n\nbody\n",
            "DKIM-Signature: v=1; a=rsa-sha256;\r\n\td=example.com; s=sel;\r\n\tb=abc\r\n   def\r\nSubject: x\r\n\r\nbody\r\n");
        yield return Case("NUL byte", "Subject: x\n\na\0b\n", "Subject: x\r\n\r\na\0b\r\n");
        yield return Case("leading From line", "From someone@example Mon Jan  1 00:00:00 2024\nSubject: x\n\nb\n", "From someone@example Mon Jan  1 00:00:00 2024\r\nSubject: x\r\n\r\nb\r\n");
        yield return Case("Bcc and Content-Length", "Bcc: hidden@x\nResent-Bcc: r@x\nContent-Length: 5\nSubject: x\n\nbody\n", "Bcc: hidden@x\r\nResent-Bcc: r@x\r\nContent-Length: 5\r\nSubject: x\r\n\r\nbody\r\n");
        yield return Case("headers only", "Subject: only\n", "Subject: only\r\n");
        yield return Case("empty", "", "");
        var longLine = new string('x', 5000);
        yield return Case("5000-character line", $"Subject: x\n\n{longLine}\n", $"Subject: x\r\n\r\n{longLine}\r\n");
        var long8 = string.Concat(Enumerable.Repeat("\xe9", 1200));
        yield return Case("8-bit line over 998", $"Subject: x\n\n{long8}\n", $"Subject: x\r\n\r\n{long8}\r\n");
        yield return Case("dot alone after CRLF input", "Subject: x\r\n\r\n.\r\n", "Subject: x\r\n\r\n..\r\n");
    }

    [TestCaseSource(nameof(Corpus))]
    public async Task Message_goes_out_byte_for_byte_with_data(string input, string expectedWire)
    {
        using var sink = SmtpSink.StartOn(Sink, FreePort.Tcp(Sink));
        using var recorder = new WireRecorder(sink.EndPoint);
        var report = await Harness.DeliverAsync("[127.0.0.1]", "s@qremote.test", ["r@example.test"], Latin1.GetBytes(input), new() { SmtpPort = recorder.EndPoint.Port });
        recorder.WaitForSessions();
        Assert.That(report, Does.StartWith("r\\0K127.0.0.1 accepted message."));

        var client = Latin1.GetString(recorder.ClientBytes);
        var start = client.IndexOf("DATA\r\n", StringComparison.Ordinal);
        Assert.That(start, Is.GreaterThan(0), client);
        var data = client[(start + 6)..];
        var end = data.LastIndexOf(".\r\nQUIT\r\n", StringComparison.Ordinal);
        Assert.That(end, Is.GreaterThanOrEqualTo(0), "no final dot and QUIT");
        Assert.That(data[..end], Is.EqualTo(expectedWire));
    }

    [Test]
    public async Task Eight_bit_message_declares_8bitmime_and_seven_bit_does_not()
    {
        using var sink = SmtpSink.StartOn(Sink, FreePort.Tcp(Sink));
        using var recorder = new WireRecorder(sink.EndPoint);
        await Harness.DeliverAsync("[127.0.0.1]", "s@qremote.test", ["r@example.test"], Latin1.GetBytes("Subject: x\n\ncaf\xe9\n"), new() { SmtpPort = recorder.EndPoint.Port });
        await Harness.DeliverAsync("[127.0.0.1]", "s@qremote.test", ["r@example.test"], Latin1.GetBytes("Subject: x\n\ncafe\n"), new() { SmtpPort = recorder.EndPoint.Port });
        recorder.WaitForSessions();
        var mails = Latin1.GetString(recorder.ClientBytes).Split("\r\n").Where(l => l.StartsWith("MAIL FROM:", StringComparison.Ordinal)).ToList();
        Assert.That(mails, Is.EqualTo(new[] { "MAIL FROM:<s@qremote.test> BODY=8BITMIME", "MAIL FROM:<s@qremote.test>" }));
    }

    [Test]
    public async Task Partial_final_line_is_refused_before_anything_is_sent()
    {
        using var sink = SmtpSink.StartOn(Sink, FreePort.Tcp(Sink));
        using var recorder = new WireRecorder(sink.EndPoint);
        var report = await Harness.DeliverAsync("[127.0.0.1]", "s@qremote.test", ["r@example.test"], Latin1.GetBytes("Subject: x\n\nno newline"), new() { SmtpPort = recorder.EndPoint.Port });
        Assert.That(report, Is.EqualTo("DSMTP cannot transfer messages with partial final lines. (#5.6.2)\n\\0"));
        Assert.That(recorder.Connections, Is.Zero);
    }
}
