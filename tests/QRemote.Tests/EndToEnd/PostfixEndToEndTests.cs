using QRemote.Tests.Infrastructure;

namespace QRemote.Tests.EndToEnd;

/// <summary>The published binary, run as qmail-rspawn runs it, delivering to a real Postfix smtpd through
/// smtproutes (a literal relay with a port) and the message arriving in Postfix's queue.</summary>
[NonParallelizable]
public sealed class PostfixEndToEndTests
{
    [Test]
    public void Published_binary_delivers_through_smtproutes_to_postfix_smtpd()
    {
        using var postfix = PostfixServer.Start();
        var home = TempQmailHome.Create();
        try
        {
            File.WriteAllText(home.Control("smtproutes"), $"example.test:[{postfix.EndPoint.Address}]:{postfix.EndPoint.Port}\n");
            var message = Path.Combine(home.Path, "message");
            File.WriteAllText(message, "From: s@qremote.test\nSubject: to smtpd\n\n.dotted\nbody\n");

            var r = QmailRspawn.Run(home.Path, message, ["example.test", "s@qremote.test", "rcpt@example.test"]);
            Assert.That(r.Letter, Is.EqualTo('K'), r.Shown);
            Assert.That(r.Shown, Does.Match(@"^r\\0K127\.0\.0\.3 accepted message\.\nRemote host said: 250 2\.0\.0 Ok: \d+ bytes queued as [0-9A-F]+\nTLS: none offered\n\\0$"));
            postfix.WaitForLog("to=<rcpt@example.test>, relay=none");
        }
        finally
        {
            home.Dispose();
        }
    }
}
