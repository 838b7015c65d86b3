using System.Net;
using QRemote.Tests.Infrastructure;

namespace QRemote.Tests.Delivery;

/// <summary>argv and stdin no sane caller sends: each has a defined letter, never a crash.</summary>
public sealed class HostileInputTests
{
    private static readonly IPAddress Sink = IPAddress.Parse("127.0.0.5");

    [TestCase("", "DSorry, I couldn't find any host named . (#5.1.2)\n\\0")]
    [TestCase("host with spaces", "DSorry, I couldn't find any host named host?with?spaces. (#5.1.2)\n\\0")]
    [TestCase("ctl\u0001\u007fhost", "DSorry, I couldn't find any host named ctl??host. (#5.1.2)\n\\0")]
    [TestCase("[999.1.1.1]", "DSorry, I couldn't find any host named [999.1.1.1]. (#5.1.2)\n\\0")]
    [TestCase("a..b", "DSorry, I couldn't find any host named a..b. (#5.1.2)\n\\0")]
    public async Task Hosts_that_cannot_exist_are_permanent_without_dns(string host, string report)
    {
        // The resolver points at a port where nothing answers: a DNS query would be a temporary failure.
        Assert.That(await Harness.DeliverAsync(host, "s@qremote.test", ["r@example.test"], "Subject: x\n\nb\n"), Is.EqualTo(report));
    }

    [Test]
    public async Task Ten_thousand_recipients_each_get_a_report_in_order()
    {
        using var sink = SmtpSink.StartOn(Sink, FreePort.Tcp(Sink));
        var recipients = Enumerable.Range(0, 10_000).Select(i => $"r{i}@example.test").ToArray();
        var report = await Harness.DeliverAsync("[127.0.0.5]", "s@qremote.test", recipients, "Subject: many\n\nb\n", new() { SmtpPort = sink.EndPoint.Port });
        Assert.That(report, Is.EqualTo(string.Concat(Enumerable.Repeat("r\\0", 10_000)) + "K127.0.0.5 accepted message.\nRemote host said: 250 2.0.0 Ok\nTLS: none offered\n\\0"));
        WaitFor.Condition(() => sink.Dumps().Count == 1, "the dump");
        Assert.That(sink.Dumps()[0].Split('\n').Count(l => l.StartsWith("X-Rcpt-Args: ", StringComparison.Ordinal)), Is.EqualTo(10_000));
    }

    [Test]
    public async Task Recipients_without_at_sign_go_as_they_are()
    {
        using var sink = SmtpSink.StartOn(Sink, FreePort.Tcp(Sink));
        var report = await Harness.DeliverAsync("[127.0.0.5]", "s@qremote.test", ["postmaster"], "Subject: x\n\nb\n", new() { SmtpPort = sink.EndPoint.Port });
        Assert.That(report, Does.StartWith("r\\0K127.0.0.5"));
        WaitFor.Condition(() => sink.Dumps().Count == 1, "the dump");
        Assert.That(sink.Dumps()[0], Does.Contain("X-Rcpt-Args: <postmaster>\n"));
    }

    [Test]
    public async Task A_recipient_mimekit_cannot_express_is_refused_alone()
    {
        using var sink = SmtpSink.StartOn(Sink, FreePort.Tcp(Sink));
        var report = await Harness.DeliverAsync("[127.0.0.5]", "s@qremote.test", ["ok@example.test", "bad@x..y"], "Subject: x\n\nb\n", new() { SmtpPort = sink.EndPoint.Port });
        Assert.That(report, Is.EqualTo("r\\0hSorry, this recipient address is not valid SMTP syntax. (#5.1.3)\n\\0K127.0.0.5 accepted message.\nRemote host said: 250 2.0.0 Ok\nTLS: none offered\n\\0"));
    }
}
