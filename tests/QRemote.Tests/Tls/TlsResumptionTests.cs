using System.Net;
using System.Text;
using QRemote.Tests.Infrastructure;

namespace QRemote.Tests.Tls;

/// <summary>
/// TLS session resumption in one long-running process (the daemon's case): the second STARTTLS connection to
/// an exchanger, by its name, resumes the first one's session from Postfix's RFC 5077 ticket. (.NET keeps the
/// session per target name; to an address literal, which has no name for SNI, it does not.)
/// </summary>
[NonParallelizable]
public sealed class TlsResumptionTests
{
    [Test]
    public async Task A_second_connection_from_one_process_resumes_the_tls_session()
    {
        using var ca = new TestCa("resumption");
        var server = ca.Issue("s", "mx1.plain.qremote.test");
        var address = IPAddress.Parse("127.0.0.10");
        var port = FreePort.Tcp(address);
        using var postfix = PostfixServer.StartOn(address, port,
            ("smtpd_tls_security_level", "may"), ("smtpd_tls_chain_files", $"{server.KeyFile}, {server.ChainFile}"), ("smtpd_tls_loglevel", "2"));
        for (var i = 0; i < 2; i++)
        {
            var report = await Harness.DeliverAsync("plain.qremote.test", "s@qremote.test", ["r@plain.qremote.test"], Encoding.UTF8.GetBytes("Subject: resume\n\nb\n"),
                new() { SmtpPort = port, ResolvConf = DnsFixture.ResolvConf });
            Assert.That(report, Does.StartWith("r\\0K127.0.0.10 accepted message."));
        }

        postfix.WaitForLog("Reusing old session (RFC 5077 session ticket)");
        var full = postfix.Log.Split('\n').Count(l => l.Contains("Issuing session ticket", StringComparison.Ordinal));
        Assert.That(full, Is.GreaterThanOrEqualTo(1));
    }
}
