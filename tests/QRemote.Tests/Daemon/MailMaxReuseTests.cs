using System.Net;
using QRemote.Daemon;
using QRemote.Tests.Infrastructure;

namespace QRemote.Tests.Daemon;

/// <summary>The connection cache and the server's RFC 9422 MAILMAX: a connection that carried MAILMAX transactions is
/// not kept, so the next delivery opens a new one, and the server's own refusal past it (421) is never met.</summary>
[NonParallelizable]
public sealed class MailMaxReuseTests
{
    private static readonly IPAddress Address = IPAddress.Parse("127.0.0.21");
    private const string Opening = "EHLO qremote.test\r\n";

    private static Task<string> Deliver(ConnectionCache cache, LimitsSmtpServer server, params string[] recipients) =>
        Harness.DeliverAsync(Harness.Literal(Address), "s@qremote.test", recipients, "Subject: x\n\nbody\n",
            new() { Config = Harness.Config(timeoutRemote: 5), SmtpPort = server.Port, Connections = cache });

    private static string Transaction(string recipient) =>
        $"MAIL FROM:<s@qremote.test>\r\nRCPT TO:<{recipient}>\r\nDATA\r\nSubject: x\r\n\r\nbody\r\n.\r\n";

    private static string Accepted(int n) => $"r\\0K127.0.0.21 accepted message.\nRemote host said: 250 2.0.0 queued as {n}\nTLS: none offered\n\\0";

    [Test]
    public async Task A_connection_that_reached_mailmax_is_not_handed_out_again()
    {
        using var server = new LimitsSmtpServer(Address, "250-LIMITS MAILMAX=2", mailMax: 2);
        using var cache = new ConnectionCache(ConnectionLimits.Default, TimeProvider.System);
        Assert.That(await Deliver(cache, server, "a@x.test"), Is.EqualTo(Accepted(1)));
        Assert.That(cache.Count, Is.EqualTo(1), "one transaction of two: kept");
        Assert.That(await Deliver(cache, server, "b@x.test"), Is.EqualTo(Accepted(2)));
        Assert.That(cache.Reused, Is.EqualTo(1));
        Assert.That(cache.Count, Is.EqualTo(0), "two of two: not kept");
        Assert.That(await Deliver(cache, server, "c@x.test"), Is.EqualTo(Accepted(3)));
        Assert.That(cache.Reused, Is.EqualTo(1), "the third delivery opened a new connection");
        cache.Dispose();
        Assert.That(server.Received(2), Is.EqualTo(new[]
        {
            Opening + Transaction("a@x.test") + "RSET\r\n" + Transaction("b@x.test") + "QUIT\r\n",
            Opening + Transaction("c@x.test") + "QUIT\r\n",
        }));
    }

    /// <summary>Transactions of a split delivery count too: two on a connection that allows three leave one for the next
    /// delivery (RSET first, as on any reused connection), and then it is full.</summary>
    [Test]
    public async Task A_split_delivery_counts_each_of_its_transactions()
    {
        using var server = new LimitsSmtpServer(Address, "250-LIMITS MAILMAX=3 RCPTMAX=1", mailMax: 3, rcptMax: 1);
        using var cache = new ConnectionCache(ConnectionLimits.Default, TimeProvider.System);
        Assert.That(await Deliver(cache, server, "a@x.test", "b@x.test"),
            Is.EqualTo("r\\0r\\0K127.0.0.21 accepted message.\nRemote host said: 250 2.0.0 queued as 2\nTLS: none offered\n\\0"));
        Assert.That(cache.Count, Is.EqualTo(1));
        Assert.That(await Deliver(cache, server, "c@x.test", "d@x.test"),
            Is.EqualTo("r\\0r\\0K127.0.0.21 accepted message.\nRemote host said: 250 2.0.0 queued as 4\nTLS: none offered\n\\0"));
        Assert.That(cache.Reused, Is.EqualTo(1));
        Assert.That(cache.Count, Is.EqualTo(1), "the second connection, one transaction of three");
        cache.Dispose();
        Assert.That(server.Received(2), Is.EqualTo(new[]
        {
            Opening + Transaction("a@x.test") + Transaction("b@x.test") + "RSET\r\n" + Transaction("c@x.test") + "QUIT\r\n",
            Opening + Transaction("d@x.test") + "QUIT\r\n",
        }));
    }
}
