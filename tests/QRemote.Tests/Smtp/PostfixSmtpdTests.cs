using System.Text;
using System.Text.RegularExpressions;
using QRemote.Tests.Infrastructure;

namespace QRemote.Tests.Smtp;

/// <summary>
/// Against a real Postfix 3.7 <c>smtpd</c> (a private instance per test, see <see cref="PostfixServer"/>;
/// accepted mail goes to the discard transport): its own reply texts, its CHUNKING, its SIZE and
/// SMTPUTF8 handling, and its access-map verdicts, each pinned in the exact report bytes. Where the
/// bytes on the wire are the point, a <see cref="WireRecorder"/> sits in front of it; the recorder
/// listens on 127.0.0.1, so those reports name 127.0.0.1. Postfix's log (its per-session command
/// counts, the discard deliveries) is the server's own account of what it received.
/// </summary>
public sealed class PostfixSmtpdTests
{
    private const string Host = "[127.0.0.3]";
    private const string Sender = "sender@qremote.test";
    private const string Message = "Subject: test\n\nhello\n";
    private const int MessageWireLength = 24;
    private static readonly Encoding Latin1 = Encoding.Latin1;

    /// <summary>A body with lines that start with a dot: dot-stuffed after DATA, sent as they are after BDAT.</summary>
    private const string Dotted = "Subject: dots\n\n.leading dot\n..two dots\n.\nend\n";
    private const string DottedWire = "Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nend\r\n";
    private const string DottedStuffed = "Subject: dots\r\n\r\n..leading dot\r\n...two dots\r\n..\r\nend\r\n";

    private static Task<string> Deliver(PostfixServer postfix, string[] recipients, string message, WireRecorder? recorder = null) =>
        Harness.DeliverAsync(recorder is null ? Host : "[127.0.0.1]", Sender, recipients, Encoding.UTF8.GetBytes(message),
            new() { Config = Harness.Config(timeoutRemote: 20, timeoutConnect: 5), SmtpPort = recorder?.EndPoint.Port ?? postfix.EndPoint.Port });

    private static PostfixServer StartPostfix(params (string Name, string Value)[] parameters)
    {
        var postfix = PostfixServer.Start(parameters);
        TestContext.Out.WriteLine($"postfix on {postfix.EndPoint} started in {postfix.StartupTime.TotalMilliseconds:F0} ms");
        return postfix;
    }

    /// <summary>Asserts the report equals <paramref name="expected"/>, where each <c>{QID}</c> stands for a Postfix
    /// queue id (it differs each run); returns the queue ids found.</summary>
    private static IReadOnlyList<string> AssertReport(string report, string expected)
    {
        var pattern = "^" + string.Join("(?<qid>[0-9A-F]{6,})", expected.Split("{QID}").Select(Regex.Escape)) + "$";
        var match = Regex.Match(report, pattern, RegexOptions.CultureInvariant);
        Assert.That(match.Success, Is.True, $"report:\n{report}\nexpected (QID any queue id):\n{expected}");
        return match.Groups["qid"].Captures.Select(c => c.Value).ToList();
    }

    /// <summary>Postfix's "disconnect" line counts the commands it received in the session, by name.</summary>
    private static void AssertSessionCommands(PostfixServer postfix, string counts)
    {
        postfix.WaitForLog($"disconnect from unknown[127.0.0.1] {counts}\n");
    }

    [Test]
    public async Task Plain_delivery_is_r_then_K_with_postfixs_queued_as_reply()
    {
        using var postfix = StartPostfix();
        var report = await Deliver(postfix, ["rcpt@example.test"], Message);

        // Postfix offers CHUNKING, so the message went as BDAT; Postfix's reply to BDAT LAST counts the bytes.
        var ids = AssertReport(report,
            $"r\\0K127.0.0.3 accepted message.\nRemote host said: 250 2.0.0 Ok: {MessageWireLength} bytes queued as {{QID}}\nTLS: none offered\n\\0");
        postfix.WaitForLog($"{ids[0]}: removed");
        Assert.That(postfix.Log, Does.Contain($"{ids[0]}: to=<rcpt@example.test>, relay=none,").And.Contain("status=sent (example.test)"));
        AssertSessionCommands(postfix, "ehlo=1 mail=1 rcpt=1 bdat=1 quit=1 commands=5");
    }

    [Test]
    public async Task Chunking_sends_bdat_last_with_the_exact_bytes_and_no_dot_stuffing()
    {
        using var postfix = StartPostfix();
        using var recorder = new WireRecorder(postfix.EndPoint);
        var report = await Deliver(postfix, ["rcpt@example.test"], Dotted, recorder);
        recorder.WaitForSessions();

        AssertReport(report, $"r\\0K127.0.0.1 accepted message.\nRemote host said: 250 2.0.0 Ok: {DottedWire.Length} bytes queued as {{QID}}\nTLS: none offered\n\\0");
        Assert.That(Latin1.GetString(recorder.ServerBytes), Does.Contain("\r\n250 CHUNKING\r\n"));
        Assert.That(Latin1.GetString(recorder.ClientBytes), Is.EqualTo(
            "EHLO qremote.test\r\n" +
            $"MAIL FROM:<{Sender}> SIZE={DottedWire.Length}\r\n" +
            "RCPT TO:<rcpt@example.test>\r\n" +
            $"BDAT {DottedWire.Length} LAST\r\n" + DottedWire +
            "QUIT\r\n"));
        AssertSessionCommands(postfix, "ehlo=1 mail=1 rcpt=1 bdat=1 quit=1 commands=5");
    }

    [Test]
    public async Task Without_chunking_data_is_used_with_dot_stuffing()
    {
        using var postfix = StartPostfix(("smtpd_discard_ehlo_keywords", "chunking"));
        using var recorder = new WireRecorder(postfix.EndPoint);
        var report = await Deliver(postfix, ["rcpt@example.test"], Dotted, recorder);
        recorder.WaitForSessions();

        AssertReport(report, "r\\0K127.0.0.1 accepted message.\nRemote host said: 250 2.0.0 Ok: queued as {QID}\nTLS: none offered\n\\0");
        Assert.That(Latin1.GetString(recorder.ServerBytes), Does.Not.Contain("CHUNKING"));
        Assert.That(Latin1.GetString(recorder.ClientBytes), Is.EqualTo(
            "EHLO qremote.test\r\n" +
            $"MAIL FROM:<{Sender}> SIZE={DottedWire.Length}\r\n" +
            "RCPT TO:<rcpt@example.test>\r\n" +
            "DATA\r\n" + DottedStuffed + ".\r\n" +
            "QUIT\r\n"));
        AssertSessionCommands(postfix, "ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5");
    }

    [Test]
    public async Task Mixed_recipients_get_h_s_and_r_then_K_in_argv_order()
    {
        using var postfix = StartPostfix(("smtpd_recipient_restrictions",
            "check_recipient_access inline:{ {reject@example.test = REJECT no such user}, {defer@example.test = DEFER_IF_PERMIT try later} }, permit_mynetworks, reject"));
        var report = await Deliver(postfix, ["ok@example.test", "reject@example.test", "defer@example.test"], Message);

        var ids = AssertReport(report,
            "r\\0" +
            "h127.0.0.3 does not like recipient.\nRemote host said: 554 5.7.1 <reject@example.test>: Recipient address rejected: no such user\n\\0" +
            "s127.0.0.3 does not like recipient.\nRemote host said: 450 4.7.1 <defer@example.test>: Recipient address rejected: try later\n\\0" +
            $"K127.0.0.3 accepted message.\nRemote host said: 250 2.0.0 Ok: {MessageWireLength} bytes queued as {{QID}}\nTLS: none offered\n\\0");
        postfix.WaitForLog($"{ids[0]}: removed");
        Assert.That(postfix.Log, Does.Contain($"{ids[0]}: to=<ok@example.test>, relay=none,"));
        Assert.That(postfix.Log, Does.Not.Contain("to=<reject@example.test>, relay").And.Not.Contain("to=<defer@example.test>, relay"));
    }

    [Test]
    public async Task Message_over_postfixs_advertised_size_limit_is_D_before_mail_from()
    {
        using var postfix = StartPostfix(("message_size_limit", "1000"));
        var big = BigMessage(5000, out var wireLength);
        Assert.That(wireLength, Is.EqualTo(5000));
        var report = await Deliver(postfix, ["rcpt@example.test"], big);

        Assert.That(report, Is.EqualTo("DConnected to 127.0.0.3 but the message (5000 bytes) is larger than it accepts (SIZE 1000). (#5.3.4)\n\\0"));
        // postlogd writes asynchronously: wait for the session's end rather than read the log once.
        postfix.WaitForLog("disconnect from unknown[127.0.0.1] ehlo=1 quit=1 commands=2");
    }

    [Test]
    public async Task Over_the_limit_nothing_but_ehlo_and_quit_is_sent()
    {
        using var postfix = StartPostfix(("message_size_limit", "1000"));
        using var recorder = new WireRecorder(postfix.EndPoint);
        var report = await Deliver(postfix, ["rcpt@example.test"], BigMessage(5000, out _), recorder);
        recorder.WaitForSessions();

        Assert.That(report, Is.EqualTo("DConnected to 127.0.0.1 but the message (5000 bytes) is larger than it accepts (SIZE 1000). (#5.3.4)\n\\0"));
        Assert.That(Latin1.GetString(recorder.ServerBytes), Does.Contain("\r\n250-SIZE 1000\r\n"));
        // The server's limit is known from EHLO: no MAIL, no RCPT, not a byte of the message.
        Assert.That(Latin1.GetString(recorder.ClientBytes), Is.EqualTo("EHLO qremote.test\r\nQUIT\r\n"));
    }

    [Test]
    public async Task Smtputf8_recipient_is_accepted_when_postfix_offers_smtputf8()
    {
        using var postfix = StartPostfix(("smtputf8_enable", "yes"));
        using var recorder = new WireRecorder(postfix.EndPoint);
        var report = await Deliver(postfix, ["jörg@example.test"], Message, recorder);
        recorder.WaitForSessions();

        var ids = AssertReport(report, $"r\\0K127.0.0.1 accepted message.\nRemote host said: 250 2.0.0 Ok: {MessageWireLength} bytes queued as {{QID}}\nTLS: none offered\n\\0");
        Assert.That(Latin1.GetString(recorder.ServerBytes), Does.Contain("\r\n250-SMTPUTF8\r\n"));
        var lines = Encoding.UTF8.GetString(recorder.ClientBytes).Split("\r\n");
        Assert.That(lines.Single(l => l.StartsWith("MAIL FROM:", StringComparison.Ordinal)), Is.EqualTo($"MAIL FROM:<{Sender}> SMTPUTF8 SIZE={MessageWireLength}"));
        // Postfix's own account of whom it accepted the message for (the local part goes out unquoted:
        // under SMTPUTF8 non-ASCII characters are atext).
        postfix.WaitForLog($"{ids[0]}: removed");
        Assert.That(postfix.Log, Does.Contain($"{ids[0]}: to=<jörg@example.test>, relay=none,"));
    }

    [Test]
    public async Task Smtputf8_recipient_is_h_when_postfix_does_not_offer_smtputf8()
    {
        using var postfix = StartPostfix(("smtputf8_enable", "no"));
        var report = await Deliver(postfix, ["jörg@example.test"], Message);

        Assert.That(report, Is.EqualTo("h127.0.0.3 does not offer SMTPUTF8, which this address needs. (#5.6.7)\n\\0DGiving up on 127.0.0.3.\n\\0"));
        // Nothing was offered to Postfix: EHLO, then QUIT.
        AssertSessionCommands(postfix, "ehlo=1 quit=1 commands=2");
    }

    [Test]
    public async Task Without_pipelining_several_recipients_are_delivered()
    {
        // Only that the dialogue completes when PIPELINING is not offered: Postfix 3.7 cannot tell whether
        // an EHLO client sent ahead (3.9's smtpd_forbid_unauth_pipelining could).
        using var postfix = StartPostfix(("smtpd_discard_ehlo_keywords", "pipelining"));
        var report = await Deliver(postfix, ["a@example.test", "b@example.test", "c@example.test"], Message);

        AssertReport(report, $"r\\0r\\0r\\0K127.0.0.3 accepted message.\nRemote host said: 250 2.0.0 Ok: {MessageWireLength} bytes queued as {{QID}}\nTLS: none offered\n\\0");
        AssertSessionCommands(postfix, "ehlo=1 mail=1 rcpt=3 bdat=1 quit=1 commands=7");
    }

    [TestCase("REJECT content refused", "r\\0D127.0.0.3 failed after I sent the message.\nRemote host said: 550 5.7.1 content refused\n\\0")]
    [TestCase("REJECT 4.7.1 try again later", "r\\0Z127.0.0.3 failed after I sent the message.\nRemote host said: 451 4.7.1 try again later\n\\0")]
    public async Task Content_refused_after_the_message_is_failed_after_i_sent_the_message(string action, string expected)
    {
        using var postfix = StartPostfix(("header_checks", $"regexp:{{ {{/^Subject: refuse me/ {action}}} }}"));
        var report = await Deliver(postfix, ["rcpt@example.test"], "Subject: refuse me\n\nhello\n");

        Assert.That(report, Is.EqualTo(expected));
    }

    /// <summary>A message whose wire form (CRLF line ends) is exactly <paramref name="size"/> bytes.</summary>
    private static string BigMessage(int size, out int wireLength)
    {
        var text = new StringBuilder("Subject: big\n\n");
        wireLength = text.Length + 2;
        while (wireLength + 100 <= size)
        {
            text.Append('x', 98).Append('\n');
            wireLength += 100;
        }

        if (wireLength < size)
        {
            text.Append('y', size - wireLength - 2).Append('\n');
            wireLength = size;
        }

        return text.ToString();
    }
}
