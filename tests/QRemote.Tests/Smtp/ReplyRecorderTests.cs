using System.Text;
using QRemote.Smtp;

namespace QRemote.Tests.Smtp;

public sealed class ReplyRecorderTests
{
    private static ReplyRecorder Feed(string text, int chunk)
    {
        var recorder = new ReplyRecorder(null);
        var bytes = Encoding.ASCII.GetBytes(text);
        for (var i = 0; i < bytes.Length; i += chunk)
        {
            recorder.LogServer(bytes, i, Math.Min(chunk, bytes.Length - i));
        }

        return recorder;
    }

    [Test]
    public void A_one_line_reply_longer_than_the_cap_keeps_its_first_5000_bytes()
    {
        using var recorder = Feed("550 " + new string('x', 6000) + "\r\n", 4096);
        Assert.That(recorder.LastReply!.Code, Is.EqualTo(550));
        Assert.That(recorder.LastReply.Lines, Is.EqualTo("550 " + new string('x', 4995) + "\n"));
    }

    [TestCase(1)]
    [TestCase(4096)]
    [TestCase(100_000)]
    public void The_64_KiB_cap_is_the_same_however_the_reads_fall(int chunk)
    {
        var gaveUp = 0;
        var almost = "250-" + new string('y', 1000) + "\r\n";
        // As many continuation lines as fit with the last line under the cap; one more is over it.
        var lines = string.Concat(Enumerable.Repeat(almost, (ReplyRecorder.MaxReplyBytes - 8) / almost.Length)) + "250 ok\r\n";
        Assert.That(lines.Length + almost.Length, Is.GreaterThan(ReplyRecorder.MaxReplyBytes));
        using (var recorder = new ReplyRecorder(null, TimeProvider.System, Timeout.InfiniteTimeSpan, () => gaveUp++))
        {
            var bytes = Encoding.ASCII.GetBytes(lines);
            for (var i = 0; i < bytes.Length; i += chunk)
            {
                recorder.LogServer(bytes, i, Math.Min(chunk, bytes.Length - i));
            }

            Assert.That((recorder.ReplyCount, gaveUp), Is.EqualTo((1, 0)), "just under the cap");
        }

        using (var recorder = new ReplyRecorder(null, TimeProvider.System, Timeout.InfiniteTimeSpan, () => gaveUp++))
        {
            var bytes = Encoding.ASCII.GetBytes(almost + lines);
            for (var i = 0; i < bytes.Length; i += chunk)
            {
                recorder.LogServer(bytes, i, Math.Min(chunk, bytes.Length - i));
            }

            Assert.That((recorder.ReplyCount, gaveUp), Is.EqualTo((0, 1)), "just over it");
        }
    }
}
