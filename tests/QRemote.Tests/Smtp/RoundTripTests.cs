using System.Net;
using System.Text;
using QRemote.Tests.Infrastructure;

namespace QRemote.Tests.Smtp;

/// <summary>
/// Round trips per SMTP transaction, counted on the wire (a recording relay in front of real servers): how
/// often the client waits for the server, from the greeting to the final reply (QUIT is not awaited). These
/// are the figures the closing note and docs/performance.md quote; a regression in pipelining changes them.
/// (With MailKit's own SendAsync, which waits for the MAIL and RCPT replies first, pipelined was 5 and BDAT 4:
/// <see cref="QRemote.Smtp.PipelinedSender"/>.)
/// </summary>
[NonParallelizable]
public sealed class RoundTripTests
{
    private const string Message = "Subject: round trips\n\nhello\n";

    private static async Task<(string Report, string Client, int Waits)> CountAsync(IPEndPoint server)
    {
        using var recorder = new WireRecorder(server);
        var report = await Harness.DeliverAsync("[127.0.0.1]", "s@qremote.test", ["r@example.test"], Message, new() { SmtpPort = recorder.EndPoint.Port });
        recorder.WaitForSessions();
        return (report, Encoding.ASCII.GetString(recorder.ClientBytes), recorder.ClientWaits);
    }

    [TestCase("-e", 7, "EHLO refused, then HELO: greeting, EHLO, HELO, MAIL, RCPT, DATA, the dot")]
    [TestCase("-p", 6, "ESMTP without PIPELINING (lock-step): greeting, EHLO, MAIL, RCPT, DATA, the dot")]
    [TestCase("", 4, "PIPELINING: greeting, EHLO, MAIL+RCPT+DATA, the message and dot")]
    public async Task Smtp_sink(string option, int waits, string why)
    {
        using var sink = option.Length == 0 ? SmtpSink.Start() : SmtpSink.Start(option);
        var (report, client, counted) = await CountAsync(sink.EndPoint);
        Assert.That(report, Does.StartWith("r\\0K"));
        TestContext.Out.WriteLine(client);
        Assert.That(counted, Is.EqualTo(waits), why);
    }

    [Test]
    public async Task Bdat_to_postfix_is_three_round_trips()
    {
        using var postfix = PostfixServer.Start();
        var (report, client, counted) = await CountAsync(postfix.EndPoint);
        Assert.That(report, Does.StartWith("r\\0K"));
        Assert.That(client, Does.Contain("BDAT "));
        Assert.That(counted, Is.EqualTo(3), "CHUNKING: greeting, EHLO, MAIL+RCPT+BDAT LAST with the message");
    }
}
