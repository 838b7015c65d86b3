using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using QRemote.Tests.Infrastructure;

namespace QRemote.Tests.Delivery;

/// <summary>
/// RFC 9422 LIMITS against a server that advertises them and enforces its own (452 past RCPTMAX or RCPTDOMAINMAX,
/// 421 and a close past MAILMAX): every command on the wire in order, and the report byte for byte (docs/limits.md).
/// </summary>
public sealed class ServerLimitsTests
{
    private static readonly IPAddress Address = IPAddress.Parse("127.0.0.19");
    private const string Message = "Subject: x\n\nbody\n";
    private const string Opening = "EHLO qremote.test\r\n";
    private const string Body = "Subject: x\r\n\r\nbody\r\n.\r\n";

    private static Task<string> Deliver(LimitsSmtpServer server, params string[] recipients) =>
        Harness.DeliverAsync(Harness.Literal(Address), "s@qremote.test", recipients, Message,
            new() { Config = Harness.Config(timeoutRemote: 5), SmtpPort = server.Port });

    private static string Transaction(params string[] recipients) =>
        "MAIL FROM:<s@qremote.test>\r\n" + string.Concat(recipients.Select(r => $"RCPT TO:<{r}>\r\n")) + "DATA\r\n" + Body;

    private static string Accepted(int n) => $"K127.0.0.19 accepted message.\nRemote host said: 250 2.0.0 queued as {n}\nTLS: none offered\n\\0";

    [TestCase(true)]
    [TestCase(false)]
    public async Task Rcptmax_splits_the_recipients_into_transactions_on_one_connection(bool pipelining)
    {
        using var server = new LimitsSmtpServer(Address, "250-LIMITS RCPTMAX=2", rcptMax: 2, pipelining: pipelining);
        var report = await Deliver(server, "a@x.test", "b@x.test", "c@x.test", "d@x.test", "e@x.test");
        Assert.That(report, Is.EqualTo("r\\0r\\0r\\0r\\0r\\0" + Accepted(3)));
        Assert.That(server.Received(1), Is.EqualTo(new[]
        {
            Opening + Transaction("a@x.test", "b@x.test") + Transaction("c@x.test", "d@x.test") + Transaction("e@x.test") + "QUIT\r\n",
        }), "a new MAIL right after each final reply: no RSET");
    }

    [Test]
    public async Task Mailmax_reached_opens_another_connection_for_the_rest()
    {
        using var server = new LimitsSmtpServer(Address, "250-LIMITS MAILMAX=2 RCPTMAX=2", mailMax: 2, rcptMax: 2);
        var report = await Deliver(server, "a@x.test", "b@x.test", "c@x.test", "d@x.test", "e@x.test");
        Assert.That(report, Is.EqualTo("r\\0r\\0r\\0r\\0r\\0" + Accepted(3)));
        Assert.That(server.Received(2), Is.EqualTo(new[]
        {
            Opening + Transaction("a@x.test", "b@x.test") + Transaction("c@x.test", "d@x.test") + "QUIT\r\n",
            Opening + Transaction("e@x.test") + "QUIT\r\n",
        }));
    }

    [Test]
    public async Task Rcptdomainmax_counts_the_domains_of_the_addresses()
    {
        using var server = new LimitsSmtpServer(Address, "250-LIMITS RCPTDOMAINMAX=1", domainMax: 1);
        var report = await Deliver(server, "a@x.test", "b@X.TEST", "c@y.test", "d@x.test");
        Assert.That(report, Is.EqualTo("r\\0r\\0r\\0r\\0" + Accepted(3)));
        Assert.That(server.Received(1), Is.EqualTo(new[]
        {
            Opening + Transaction("a@x.test", "b@X.TEST") + Transaction("c@y.test") + Transaction("d@x.test") + "QUIT\r\n",
        }));
    }

    /// <summary>Each recipient's letter is its own transaction's end; K because one transaction delivered, so qmail's
    /// reading (s deferred, h failed whatever the message letter; r takes it) is right for every one of them.</summary>
    [Test]
    public async Task A_later_transaction_refused_after_the_dot_defers_or_fails_only_its_own_recipients()
    {
        using var server = new LimitsSmtpServer(Address, "250-LIMITS RCPTMAX=2", rcptMax: 2,
            afterDot: n => n switch { 2 => "451 4.3.0 try later\r\n", 3 => "554 5.6.0 content refused\r\n", _ => null });
        var report = await Deliver(server, "a@x.test", "b@x.test", "c@x.test", "d@x.test", "e@x.test");
        const string later = "127.0.0.19 failed after I sent the message.\nRemote host said: 451 4.3.0 try later\n\\0";
        const string refused = "127.0.0.19 failed after I sent the message.\nRemote host said: 554 5.6.0 content refused\n\\0";
        Assert.That(report, Is.EqualTo("r\\0r\\0s" + later + "s" + later + "h" + refused + Accepted(1)));
        Assert.That(server.Messages, Is.EqualTo(3));
    }

    [Test]
    public async Task No_transaction_delivered_is_Z_when_any_recipient_waits_and_D_when_all_failed()
    {
        using (var server = new LimitsSmtpServer(Address, "250-LIMITS RCPTMAX=1", rcptMax: 1,
            afterDot: n => n == 1 ? "554 5.6.0 no\r\n" : "451 4.3.0 later\r\n"))
        {
            Assert.That(await Deliver(server, "a@x.test", "b@x.test"), Is.EqualTo(
                "h127.0.0.19 failed after I sent the message.\nRemote host said: 554 5.6.0 no\n\\0" +
                "s127.0.0.19 failed after I sent the message.\nRemote host said: 451 4.3.0 later\n\\0" +
                "Z127.0.0.19 failed after I sent the message.\nRemote host said: 451 4.3.0 later\n\\0"));
        }

        using (var server = new LimitsSmtpServer(Address, "250-LIMITS RCPTMAX=1", rcptMax: 1, afterDot: _ => "554 5.6.0 no\r\n"))
        {
            Assert.That(await Deliver(server, "a@x.test", "b@x.test"), Is.EqualTo(
                "h127.0.0.19 failed after I sent the message.\nRemote host said: 554 5.6.0 no\n\\0" +
                "h127.0.0.19 failed after I sent the message.\nRemote host said: 554 5.6.0 no\n\\0" +
                "D127.0.0.19 failed after I sent the message.\nRemote host said: 554 5.6.0 no\n\\0"));
        }
    }

    /// <summary>Without LIMITS nothing is split: a server's 452 past its own limit defers those recipients (RFC 5321
    /// 4.5.3.1.10), the rest are delivered in the one transaction, as always.</summary>
    [Test]
    public async Task Without_limits_a_452_at_rcpt_defers_the_recipients_past_the_servers_limit()
    {
        using var server = new LimitsSmtpServer(Address, advertise: null, rcptMax: 2);
        var report = await Deliver(server, "a@x.test", "b@x.test", "c@x.test");
        Assert.That(report, Is.EqualTo("r\\0r\\0s127.0.0.19 does not like recipient.\nRemote host said: 452 4.5.3 too many recipients\n\\0" + Accepted(1)));
        Assert.That(server.Received(1), Is.EqualTo(new[] { Opening + Transaction("a@x.test", "b@x.test", "c@x.test") + "QUIT\r\n" }));
    }

    [TestCase("250-LIMITS RCPTMAX=0 MAILMAX=0")]
    [TestCase("250-LIMITS RCPTMAX=-1")]
    [TestCase("250-LIMITS RCPTMAX=99999999999999999999 RCPTDOMAINMAX=4294967297")]
    [TestCase("250-LIMITS RCPTMAX")]
    [TestCase("250-LIMITS RCPTMAX=two")]
    [TestCase("250-LIMITS")]
    public async Task Hostile_limits_change_nothing(string advertise)
    {
        using var server = new LimitsSmtpServer(Address, advertise);
        var report = await Deliver(server, "a@x.test", "b@y.test", "c@z.test");
        Assert.That(report, Is.EqualTo("r\\0r\\0r\\0" + Accepted(1)));
        Assert.That(server.Received(1), Is.EqualTo(new[] { Opening + Transaction("a@x.test", "b@y.test", "c@z.test") + "QUIT\r\n" }));
    }

    /// <summary>MAILMAX=1 RCPTMAX=1 to twelve recipients would be twelve connections: one delivery opens at most ten,
    /// and the two recipients left are deferred, never lost, never failed.</summary>
    [Test]
    public async Task A_delivery_opens_at_most_ten_connections_and_defers_the_rest()
    {
        using var server = new LimitsSmtpServer(Address, "250-LIMITS MAILMAX=1 RCPTMAX=1", mailMax: 1, rcptMax: 1);
        var recipients = Enumerable.Range(1, 12).Select(i => $"u{i}@x.test").ToArray();
        var report = await Deliver(server, recipients);
        const string left = "s127.0.0.19 takes few transactions per connection (LIMITS MAILMAX) and this delivery opened as many connections as it may; this recipient was not tried. (#4.5.3)\n\\0";
        Assert.That(report, Is.EqualTo(string.Concat(Enumerable.Repeat("r\\0", 10)) + left + left + Accepted(10)));
        var received = server.Received(10);
        Assert.That(received, Is.EqualTo(Enumerable.Range(1, 10).Select(i => Opening + Transaction($"u{i}@x.test") + "QUIT\r\n")));
    }

    /// <summary>A server that closes after one message without saying MAILMAX: the next transaction's MAIL meets a
    /// closed connection before any byte of its message went; it is sent again on a new connection.</summary>
    [Test]
    public async Task A_transaction_lost_before_its_message_goes_again_on_a_new_connection()
    {
        using var server = new LimitsSmtpServer(Address, "250-LIMITS RCPTMAX=1", dropAfterMessages: 1);
        var report = await Deliver(server, "a@x.test", "b@x.test");
        Assert.That(report, Is.EqualTo("r\\0r\\0" + Accepted(2)));
        var received = server.Received(2);
        Assert.That(received[0], Does.StartWith(Opening + Transaction("a@x.test") + "MAIL FROM:<s@qremote.test>\r\n"));
        Assert.That(received[1], Is.EqualTo(Opening + Transaction("b@x.test") + "QUIT\r\n"));
        Assert.That(server.Messages, Is.EqualTo(2), "each message once");
    }

    /// <summary>A server that drops every connection at MAIL: each transaction goes again once, then its recipients
    /// are deferred; two transactions, four connections, nothing delivered, nothing failed.</summary>
    [Test]
    public async Task A_transaction_lost_twice_before_its_message_is_deferred()
    {
        using var server = new LimitsSmtpServer(Address, "250-LIMITS RCPTMAX=1", dropAfterMessages: 0);
        var report = await Deliver(server, "a@x.test", "b@x.test");
        const string noAnswer = "s127.0.0.19 gave no answer for this recipient.\n\\0";
        Assert.That(report, Is.EqualTo(noAnswer + noAnswer + "ZConnected to 127.0.0.19 but connection died. (#4.4.2)\n\\0"));
        var received = server.Received(4);
        Assert.That(received, Has.All.EqualTo(Opening + "MAIL FROM:<s@qremote.test>\r\n"), "each session read up to the dropped MAIL");
        Assert.That(server.Messages, Is.Zero);
    }

    /// <summary>Only the first 5000 bytes of a reply are kept (netqmail's cap): LIMITS past them is not seen, nothing
    /// is split, and the server's 452 past its limit defers the recipient, as without LIMITS.</summary>
    [Test]
    public async Task Limits_past_the_first_5000_bytes_of_the_ehlo_reply_are_not_seen()
    {
        using var server = new LimitsSmtpServer(Address, $"250-X-PAD {new string('p', 6000)}\r\n250-LIMITS RCPTMAX=1", rcptMax: 1);
        var report = await Deliver(server, "a@x.test", "b@x.test");
        Assert.That(report, Is.EqualTo("r\\0s127.0.0.19 does not like recipient.\nRemote host said: 452 4.5.3 too many recipients\n\\0" + Accepted(1)));
    }

    /// <summary>Two arguments naming one mailbox are one RCPT (as without limits): the split counts mailboxes.</summary>
    [Test]
    public async Task Duplicate_recipients_share_one_rcpt_across_the_split()
    {
        using var server = new LimitsSmtpServer(Address, "250-LIMITS RCPTMAX=2", rcptMax: 2);
        var report = await Deliver(server, "a@x.test", "b@x.test", "a@X.TEST", "c@x.test");
        Assert.That(report, Is.EqualTo("r\\0r\\0r\\0r\\0" + Accepted(2)));
        Assert.That(server.Received(1), Is.EqualTo(new[] { Opening + Transaction("a@x.test", "b@x.test") + Transaction("c@x.test") + "QUIT\r\n" }));
    }

    /// <summary>A real server without LIMITS (Postfix's smtp-sink) and many recipients: one transaction, as before.</summary>
    [Test]
    public async Task Many_recipients_to_postfix_without_limits_are_one_transaction()
    {
        using var sink = SmtpSink.Start();
        using var recorder = new WireRecorder(sink.EndPoint);
        var recipients = Enumerable.Range(1, 150).Select(i => $"u{i}@d{i % 9}.test").ToArray();
        var report = await Harness.DeliverAsync("[127.0.0.1]", "s@qremote.test", recipients, Message, new() { SmtpPort = recorder.EndPoint.Port });
        recorder.WaitForSessions();
        Assert.That(report, Is.EqualTo(string.Concat(Enumerable.Repeat("r\\0", 150)) + "K127.0.0.1 accepted message.\nRemote host said: 250 2.0.0 Ok\nTLS: none offered\n\\0"));
        var client = Encoding.ASCII.GetString(recorder.ClientBytes);
        Assert.That(recorder.Connections, Is.EqualTo(1));
        Assert.That(Regex.Matches(client, "^MAIL FROM:", RegexOptions.Multiline), Has.Count.EqualTo(1));
        Assert.That(client, Does.Contain("MAIL FROM:<s@qremote.test>\r\n" + string.Concat(recipients.Select(r => $"RCPT TO:<{r}>\r\n")) + "DATA\r\n"));
    }
}
