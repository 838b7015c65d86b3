using System.Net;
using QRemote.Tests.Infrastructure;

namespace QRemote.Tests.Smtp;

/// <summary>
/// The reply-code table of qmail-remote, row by row, against Postfix's smtp-sink with its fault
/// options. Each test asserts the exact report bytes qmail-rspawn would read.
/// </summary>
public sealed class SmtpSinkReplyTests
{
    private static readonly IPAddress Sink = IPAddress.Parse("127.0.0.2");
    private const string Message = "Subject: test\n\nhello\n";

    private static async Task<string> Deliver(string[] sinkOptions, params string[] recipients)
    {
        using var sink = SmtpSink.StartOn(Sink, FreePort.Tcp(Sink), sinkOptions);
        return await Harness.DeliverAsync("[127.0.0.2]", "sender@qremote.test", recipients.Length == 0 ? ["rcpt@example.test"] : recipients,
            Message, new() { SmtpPort = sink.EndPoint.Port });
    }

    [Test]
    public async Task Accepted_message_reports_r_then_K_with_the_servers_reply()
    {
        Assert.That(await Deliver([]), Is.EqualTo("r\\0K127.0.0.2 accepted message.\nRemote host said: 250 2.0.0 Ok\nTLS: none offered\n\\0"));
    }

    [Test]
    public async Task Duplicate_recipients_each_get_a_report_in_argv_order()
    {
        Assert.That(await Deliver([], "a@example.test", "A@EXAMPLE.TEST", "b@example.test", "a@example.test"),
            Is.EqualTo("r\\0r\\0r\\0r\\0K127.0.0.2 accepted message.\nRemote host said: 250 2.0.0 Ok\nTLS: none offered\n\\0"));
    }

    [TestCase("", "<>")]
    [TestCase("#@[]", "<#@[]>")]
    [TestCase("-x@y.test", "<-x@y.test>")]
    [TestCase("a..b@y.test", "<\"a..b\"@y.test>")]
    public async Task Senders_qmail_uses_reach_the_wire_as_qmail_sends_them(string sender, string mailArgs)
    {
        using var sink = SmtpSink.StartOn(Sink, FreePort.Tcp(Sink));
        var report = await Harness.DeliverAsync("[127.0.0.2]", sender, ["rcpt@example.test"], Message, new() { SmtpPort = sink.EndPoint.Port });
        Assert.That(report, Is.EqualTo("r\\0K127.0.0.2 accepted message.\nRemote host said: 250 2.0.0 Ok\nTLS: none offered\n\\0"));
        WaitFor.Condition(() => sink.Dumps().Count == 1, "the dump");
        Assert.That(sink.Dumps()[0], Does.Contain($"X-Mail-Args: {mailArgs}\n"));
    }

    [Test]
    public async Task Sender_with_crlf_is_refused_before_connecting()
    {
        using var sink = SmtpSink.StartOn(Sink, FreePort.Tcp(Sink));
        using var recorder = new WireRecorder(sink.EndPoint);
        var report = await Harness.DeliverAsync("[127.0.0.1]", "a@b\r\nRSET", ["rcpt@example.test"], Message, new() { SmtpPort = recorder.EndPoint.Port });
        Assert.That(report, Is.EqualTo("DSorry, the envelope sender contains a character SMTP cannot carry (CR, LF or NUL). (#5.1.7)\n\\0"));
        Assert.That(recorder.Connections, Is.Zero);
    }

    [Test]
    public async Task Greeting_5xx_is_Z_greeting_failed()
    {
        Assert.That(await Deliver(["-f", "CONNECT"]),
            Is.EqualTo("ZConnected to 127.0.0.2 but greeting failed.\nRemote host said: 500 5.3.0 Error: command failed\n\\0"));
    }

    [Test]
    public async Task Greeting_4xx_is_Z_greeting_failed()
    {
        Assert.That(await Deliver(["-r", "CONNECT"]),
            Is.EqualTo("ZConnected to 127.0.0.2 but greeting failed.\nRemote host said: 450 4.3.0 Error: command failed\n\\0"));
    }

    [Test]
    public async Task Ehlo_and_helo_refused_is_Z_name_rejected()
    {
        Assert.That(await Deliver(["-f", "EHLO,HELO"]),
            Is.EqualTo("ZConnected to 127.0.0.2 but my name was rejected.\nRemote host said: 500 5.3.0 Error: command failed\n\\0"));
    }

    [Test]
    public async Task Ehlo_refused_falls_back_to_helo()
    {
        Assert.That(await Deliver(["-f", "EHLO"]), Is.EqualTo("r\\0K127.0.0.2 accepted message.\nRemote host said: 250 2.0.0 Ok\nTLS: none offered\n\\0"));
    }

    [Test]
    public async Task Mail_5xx_is_D_sender_rejected()
    {
        Assert.That(await Deliver(["-f", "MAIL"]),
            Is.EqualTo("DConnected to 127.0.0.2 but sender was rejected.\nRemote host said: 500 5.3.0 Error: command failed\n\\0"));
    }

    [Test]
    public async Task Mail_4xx_is_Z_sender_rejected()
    {
        Assert.That(await Deliver(["-r", "MAIL"]),
            Is.EqualTo("ZConnected to 127.0.0.2 but sender was rejected.\nRemote host said: 450 4.3.0 Error: command failed\n\\0"));
    }

    [Test]
    public async Task Rcpt_5xx_is_h_and_D_giving_up()
    {
        Assert.That(await Deliver(["-f", "RCPT"]),
            Is.EqualTo("h127.0.0.2 does not like recipient.\nRemote host said: 500 5.3.0 Error: command failed\n\\0DGiving up on 127.0.0.2.\n\\0"));
    }

    [Test]
    public async Task Rcpt_4xx_is_s_and_D_giving_up()
    {
        // qmail-rspawn turns a leading s into Z, so the recipient is retried.
        Assert.That(await Deliver(["-r", "RCPT"]),
            Is.EqualTo("s127.0.0.2 does not like recipient.\nRemote host said: 450 4.3.0 Error: command failed\n\\0DGiving up on 127.0.0.2.\n\\0"));
    }

    [Test]
    public async Task Data_5xx_is_D_failed_on_data()
    {
        Assert.That(await Deliver(["-f", "DATA"]),
            Is.EqualTo("r\\0D127.0.0.2 failed on DATA command.\nRemote host said: 500 5.3.0 Error: command failed\n\\0"));
    }

    [Test]
    public async Task Data_4xx_is_Z_failed_on_data()
    {
        Assert.That(await Deliver(["-r", "DATA"]),
            Is.EqualTo("r\\0Z127.0.0.2 failed on DATA command.\nRemote host said: 450 4.3.0 Error: command failed\n\\0"));
    }

    [Test]
    public async Task After_dot_5xx_is_D_failed_after_message()
    {
        Assert.That(await Deliver(["-f", "."]),
            Is.EqualTo("r\\0D127.0.0.2 failed after I sent the message.\nRemote host said: 500 5.3.0 Error: command failed\n\\0"));
    }

    [Test]
    public async Task After_dot_4xx_is_Z_failed_after_message()
    {
        Assert.That(await Deliver(["-r", "."]),
            Is.EqualTo("r\\0Z127.0.0.2 failed after I sent the message.\nRemote host said: 450 4.3.0 Error: command failed\n\\0"));
    }

    [Test]
    public async Task Disconnect_after_the_final_dot_is_Z_possible_duplicate()
    {
        Assert.That(await Deliver(["-q", "."]),
            Is.EqualTo("r\\0ZConnected to 127.0.0.2 but connection died. Possible duplicate! (#4.4.2)\n\\0"));
    }

    [Test]
    public async Task Disconnect_after_data_is_Z_connection_died_without_duplicate_warning()
    {
        Assert.That(await Deliver(["-q", "DATA"]),
            Is.EqualTo("r\\0ZConnected to 127.0.0.2 but connection died. (#4.4.2)\n\\0"));
    }

    [Test]
    public async Task Disconnect_after_mail_is_Z_connection_died_with_no_recipient_reports()
    {
        Assert.That(await Deliver(["-q", "MAIL"]),
            Is.EqualTo("ZConnected to 127.0.0.2 but connection died. (#4.4.2)\n\\0"));
    }

    [Test]
    public async Task Disconnect_after_ehlo_is_Z_connection_died()
    {
        Assert.That(await Deliver(["-q", "EHLO"]),
            Is.EqualTo("ZConnected to 127.0.0.2 but connection died. (#4.4.2)\n\\0"));
    }

    [Test]
    public async Task Rcpt_421_and_disconnect_is_s_then_giving_up()
    {
        // As netqmail: qmail-rspawn reads the leading s as Z, so the recipient is retried.
        Assert.That(await Deliver(["-Q", "RCPT"]),
            Is.EqualTo("s127.0.0.2 does not like recipient.\nRemote host said: 421 4.0.0 Server closing connection\n\\0DGiving up on 127.0.0.2.\n\\0"));
    }

    [Test]
    public async Task No_server_listening_is_Z_no_connection()
    {
        var port = FreePort.Tcp(Sink);
        Assert.That(await Harness.DeliverAsync("[127.0.0.2]", "s@qremote.test", ["r@example.test"], Message, new() { SmtpPort = port }),
            Is.EqualTo("ZSorry, I wasn't able to establish an SMTP connection. (#4.4.1)\n\\0"));
    }
}
