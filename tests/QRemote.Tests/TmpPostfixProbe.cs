using System.Diagnostics;
using QRemote.Tests.Infrastructure;
namespace QRemote.Tests;
public sealed class TmpPostfixProbe
{
    [Test]
    public async Task Timing()
    {
        using var p = PostfixServer.Start();
        using var r = new WireRecorder(p.EndPoint);
        var sw = Stopwatch.StartNew();
        var report = await Harness.DeliverAsync("[127.0.0.1]", "s@qremote.test", ["r@example.test"], "Subject: x\n\nhi\n", smtpPort: r.EndPoint.Port);
        TestContext.Out.WriteLine($"deliver {sw.ElapsedMilliseconds} ms");
        r.WaitForSessions();
        TestContext.Out.WriteLine($"sessions {sw.ElapsedMilliseconds} ms");
        sw.Restart();
        report = await Harness.DeliverAsync("[127.0.0.3]", "s@qremote.test", ["r@example.test"], "Subject: x\n\nhi\n", smtpPort: p.EndPoint.Port);
        TestContext.Out.WriteLine($"direct deliver {sw.ElapsedMilliseconds} ms");
    }
}
