using System.Net;
using System.Net.Sockets;
using MailKit.Security;
using QRemote.Smtp;
using QRemote.Tests.Infrastructure;

namespace QRemote.Tests.Smtp;

/// <summary>
/// MailKit reads the greeting, EHLO and STARTTLS replies; from MAIL on, <see cref="PipelinedSender"/> reads the replies
/// itself, from the connection beneath MailKit's stream. That is sound only while MailKit's input buffer is empty at the
/// hand-off: bytes left there would be lost to both readers.
/// </summary>
public sealed class ReplyHandOffTests
{
    private static readonly IPAddress Address = IPAddress.Parse("127.0.0.4");

    private static async Task EhloThenAsync(ScriptedSession s, string ehloReply)
    {
        await s.SendAsync("220 scripted ESMTP\r\n");
        string? line;
        while ((line = await s.ReadLineAsync()) is not null)
        {
            await s.SendAsync(line.StartsWith("EHLO", StringComparison.Ordinal) ? ehloReply : "250 ok\r\n");
        }
    }

    private static async Task<int> UnreadAfterConnectAsync(string ehloReply)
    {
        using var server = new ScriptedSmtpServer(Address, 0, s => EhloThenAsync(s, ehloReply));
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(server.EndPoint);
        using var recorder = new ReplyRecorder(null);
        using var client = new QRemoteSmtpClient(recorder) { LocalDomain = "qremote.test" };
        await client.ConnectAsync(socket, "scripted.test", server.EndPoint.Port, SecureSocketOptions.None);
        // The extra line, when there is one, goes out in the same write as the EHLO reply, so MailKit reads both at once.
        return PipelinedSender.UnreadInput(client);
    }

    [Test]
    public async Task MailKits_input_buffer_is_empty_at_the_hand_off()
    {
        Assert.That(await UnreadAfterConnectAsync("250-scripted\r\n250-PIPELINING\r\n250 8BITMIME\r\n"), Is.Zero);
    }

    [Test]
    public async Task An_unasked_line_after_EHLO_is_seen_in_MailKits_buffer()
    {
        // The check above can fail: a server that says more than it was asked leaves bytes there.
        Assert.That(await UnreadAfterConnectAsync("250-scripted\r\n250 PIPELINING\r\n250 unasked\r\n"), Is.EqualTo("250 unasked\r\n".Length));
    }

    [Test]
    public async Task An_unasked_line_after_EHLO_is_a_broken_connection_and_nothing_is_sent()
    {
        using var server = new ScriptedSmtpServer(Address, 0, s => EhloThenAsync(s, "250-scripted\r\n250 PIPELINING\r\n250 unasked\r\n"));
        var report = await Harness.DeliverAsync("[127.0.0.4]", "s@qremote.test", ["r@example.test"], "Subject: x\n\nbody\n",
            new() { Config = Harness.Config(timeoutRemote: 5), SmtpPort = server.EndPoint.Port });
        Assert.That(report, Is.EqualTo("ZConnected to 127.0.0.4 but connection died. (#4.4.2)\n\\0"));
        Assert.That(server.Sessions.Single().Received, Does.Not.Contain("MAIL FROM"));
    }
}
