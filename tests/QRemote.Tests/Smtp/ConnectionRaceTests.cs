using System.Net;
using System.Net.Sockets;
using System.Text;
using QRemote.Tests.Infrastructure;

namespace QRemote.Tests.Smtp;

/// <summary>
/// RFC 8305's connection race between one exchanger's IPv6 and IPv4 addresses: <c>mx.race.qremote.test</c>
/// has AAAA ::1 and A 127.0.0.40. The IPv6 port is a black hole (a listener whose accept queue is full: the
/// kernel drops further SYNs, as a broken IPv6 path does); smtp-sink listens on the IPv4 address. With
/// timeoutconnect at 30 s, a client that waits for the IPv6 attempt to fail first would record that attempt
/// as timed out; QRemote starts the IPv4 attempt after 250 ms and delivers, and the IPv6 attempt is abandoned.
/// </summary>
[NonParallelizable]
public sealed class ConnectionRaceTests
{
    [Test]
    public async Task A_black_holed_ipv6_address_does_not_delay_the_ipv4_one()
    {
        var v4 = IPAddress.Parse("127.0.0.40");
        int port;
        Socket hole;
        while (true)
        {
            port = FreePort.Tcp(v4);
            hole = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                hole.Bind(new IPEndPoint(IPAddress.IPv6Loopback, port));
                break;
            }
            catch (SocketException)
            {
                hole.Dispose();
            }
        }

        using (hole)
        {
            hole.Listen(0);
            // Fill the accept queue (never accepted): from then on the kernel drops SYNs to this port.
            var fillers = new List<Socket>();
            for (var i = 0; i < 4; i++)
            {
                var filler = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
                _ = filler.ConnectAsync(new IPEndPoint(IPAddress.IPv6Loopback, port));
                fillers.Add(filler);
            }

            Thread.Sleep(200);
            using var sink = SmtpSink.StartOn(v4, port);
            var transcript = new StringWriter();
            var report = await Harness.DeliverAsync("race.qremote.test", "s@qremote.test", ["rcpt@race.qremote.test"],
                Encoding.UTF8.GetBytes("Subject: race\n\nhello\n"), new()
                {
                    Config = Harness.Config(timeoutConnect: 30), SmtpPort = port, ResolvConf = DnsFixture.ResolvConf,
                    Local = new FixedLocalAddresses(IPAddress.Loopback), Transcript = TextWriter.Synchronized(transcript),
                });
            foreach (var f in fillers)
            {
                f.Dispose();
            }

            Assert.That(report, Does.StartWith("r\\0K127.0.0.40 accepted message."));
            var text = transcript.ToString();
            Assert.That(text, Does.Contain("dns: mx.race.qremote.test.: ::1 127.0.0.40"), "IPv6 first, as RFC 8305 orders them");
            Assert.That(text, Does.Not.Contain($"connect [::1]:{port}"), "the IPv6 attempt was abandoned, not waited out");
            Assert.That(text, Does.Contain($"connected to 127.0.0.40:{port}"));
        }
    }
}
