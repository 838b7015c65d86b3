using System.Net;
using System.Text;
using QRemote.Tests.Infrastructure;

namespace QRemote.Tests.Smtp;

/// <summary>
/// A message whose upload takes longer than <c>timeoutremote</c>: the timeout bounds each read and each write
/// (qmail's timeoutread/timeoutwrite), never the whole upload. The server reads at 4 MB/s; 16 MB take 4 s
/// against a <c>timeoutremote</c> of 2 s, over BDAT (PIPELINING + CHUNKING, as Postfix 3.4+ offers) and over DATA.
/// The reply's deadline starts when the last write is accepted by the kernel, as qmail's does: what the send buffer
/// still holds then (Linux autotunes it up to 4 MB, tcp_wmem) must drain within it, so the rate is chosen to drain
/// that in about 1 s.
/// </summary>
[NonParallelizable]
public sealed class SlowUploadTests
{
    private static readonly IPAddress Address = IPAddress.Parse("127.0.0.4");
    private const double BytesPerSecond = 4_000_000;
    private const int TimeoutRemote = 2;

    /// <summary>16 MB of 76-byte lines (CRLF on the wire), none starting with a dot.</summary>
    private static (byte[] Message, byte[] Wire) BigMessage()
    {
        var lf = new StringBuilder("Subject: slow upload\n\n");
        var line = new string('a', 76);
        while (lf.Length < 16_000_000)
        {
            lf.Append(line).Append('\n');
        }

        var text = lf.ToString();
        return (Encoding.ASCII.GetBytes(text), Encoding.ASCII.GetBytes(text.Replace("\n", "\r\n", StringComparison.Ordinal)));
    }

    private static async Task<string> DeliverAsync(byte[] message, ScriptedSmtpServer server, StringWriter transcript) =>
        await Harness.DeliverAsync("[127.0.0.4]", "s@qremote.test", ["r@example.test"], message,
            new() { Config = Harness.Config(timeoutRemote: TimeoutRemote), SmtpPort = server.EndPoint.Port, Transcript = TextWriter.Synchronized(transcript) });

    [Test]
    public async Task A_bdat_upload_longer_than_timeoutremote_is_delivered_whole()
    {
        var (message, wire) = BigMessage();
        byte[]? received = null;
        using var server = new ScriptedSmtpServer(Address, 0, async s =>
        {
            await s.OpenThroughRcptAsync("PIPELINING", "CHUNKING", "SIZE 100000000");
            string? line;
            while ((line = await s.ReadLineAsync()) is not null)
            {
                if (line.StartsWith("BDAT ", StringComparison.Ordinal))
                {
                    received = await s.ReadThrottledAsync(long.Parse(line.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture), BytesPerSecond);
                    await s.SendAsync("250 2.0.0 queued\r\n");
                }
                else if (line == "QUIT")
                {
                    await s.SendAsync("221 bye\r\n");
                    return;
                }
                else
                {
                    await s.SendAsync("250 ok\r\n");
                }
            }
        }, receiveBuffer: 64 * 1024);
        var transcript = new StringWriter();
        var report = await DeliverAsync(message, server, transcript);
        Assert.That(report, Is.EqualTo("r\\0K127.0.0.4 accepted message.\nRemote host said: 250 2.0.0 queued\nTLS: none offered\n\\0"));
        Assert.That(received, Is.EqualTo(wire), "the exact bytes, as one BDAT LAST chunk");
        // Over the one-flight threshold the chunk waits for the MAIL and RCPT replies.
        var commands = server.Sessions.Single().Received;
        Assert.That(commands, Does.Contain($"RCPT TO:<r@example.test>\r\nBDAT {wire.Length} LAST\r\n"));
        Assert.That(transcript.ToString(), Does.Match(@"S: 250 ok\r?\nC: BDAT \d+ LAST"), "the BDAT after the RCPT reply");
    }

    [Test]
    public async Task A_data_upload_longer_than_timeoutremote_is_delivered_whole()
    {
        var (message, wire) = BigMessage();
        byte[]? received = null;
        using var server = new ScriptedSmtpServer(Address, 0, async s =>
        {
            await s.OpenThroughRcptAsync("PIPELINING", "SIZE 100000000");
            string? line;
            while ((line = await s.ReadLineAsync()) is not null)
            {
                if (line == "DATA")
                {
                    await s.SendAsync("354 go ahead\r\n");
                    received = await s.ReadDataThrottledAsync(BytesPerSecond);
                    await s.SendAsync("250 2.0.0 queued\r\n");
                }
                else if (line == "QUIT")
                {
                    await s.SendAsync("221 bye\r\n");
                    return;
                }
                else
                {
                    await s.SendAsync("250 ok\r\n");
                }
            }
        }, receiveBuffer: 64 * 1024);
        var transcript = new StringWriter();
        var report = await DeliverAsync(message, server, transcript);
        Assert.That(report, Is.EqualTo("r\\0K127.0.0.4 accepted message.\nRemote host said: 250 2.0.0 queued\nTLS: none offered\n\\0"));
        Assert.That(received, Is.EqualTo(wire.Concat(".\r\n"u8.ToArray()).ToArray()), "the exact bytes and the final dot");
    }

    /// <summary>The other side of the rule: a server that stops reading mid-upload holds each write, and a write that
    /// does not complete within <c>timeoutremote</c> ends the connection (nothing after the chunk was sent: no duplicate).</summary>
    [Test]
    public async Task A_server_that_stops_reading_mid_upload_is_given_up_after_timeoutremote()
    {
        var (message, _) = BigMessage();
        using var server = new ScriptedSmtpServer(Address, 0, async s =>
        {
            await s.OpenThroughRcptAsync("PIPELINING", "CHUNKING");
            string? line;
            while ((line = await s.ReadLineAsync()) is not null)
            {
                if (line.StartsWith("BDAT ", StringComparison.Ordinal))
                {
                    await s.ReadThrottledAsync(100_000, BytesPerSecond);
                    await Task.Delay(Timeout.Infinite, s.Stop);
                }

                await s.SendAsync("250 ok\r\n");
            }
        }, receiveBuffer: 64 * 1024);
        var transcript = new StringWriter();
        var report = await DeliverAsync(message, server, transcript);
        Assert.That(report, Is.EqualTo("r\\0ZConnected to 127.0.0.4 but connection died. (#4.4.2)\n\\0"));
        Assert.That(transcript.ToString(), Does.Contain($"giving up the connection: no write completed within {TimeoutRemote}s"));
    }
}
