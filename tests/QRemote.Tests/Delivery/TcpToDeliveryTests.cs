using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using QRemote.Delivery;
using QRemote.Dns;
using QRemote.Message;
using QRemote.Qmail;
using QRemote.Tests.Infrastructure;

namespace QRemote.Tests.Delivery;

/// <summary>tcpto in whole deliveries through the DNS (here for <see cref="DnsFixture"/>'s BIND).</summary>
public sealed class TcpToDeliveryTests
{
    private const string Message = "Subject: tcpto\n\nhello\n";
    private static readonly DateTimeOffset Start = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000);

    private static string Accepted(string ip) => $"r\\0K{ip} accepted message.\nRemote host said: 250 2.0.0 Ok\nTLS: none offered\n\\0";

    [Test]
    public async Task A_dead_exchanger_is_counted_twice_then_skipped_and_the_backup_gets_the_mail_at_once()
    {
        using var home = TcpToHome.Create();
        var dead = IPAddress.Parse("127.0.0.19");
        var live = IPAddress.Parse("127.0.0.20");
        var port = FreePort.Tcp(dead);
        using var hole = BlackHole.Start(dead, port);
        using var sink = SmtpSink.StartOn(live, port);
        var time = FakeClock.StoppedAt(Start);

        var (report, transcript, elapsed) = await Deliver("backup.qremote.test", home, time, port);
        Assert.That(report, Is.EqualTo(Accepted("127.0.0.20")));
        Assert.That(transcript, Does.Contain($"connect 127.0.0.19:{port}: timed out after 1s"));
        Assert.That(TcpToFile.Ipv4(home.Ipv4), Is.EqualTo(new[] { new TcpToEntry(0, dead, 1, Start.ToUnixTimeSeconds()) }), "the live one never timed out: not in the table");

        time.Advance(TimeSpan.FromSeconds(121));
        (report, _, _) = await Deliver("backup.qremote.test", home, time, port);
        Assert.That(report, Is.EqualTo(Accepted("127.0.0.20")));
        Assert.That(TcpToFile.Ipv4(home.Ipv4), Is.EqualTo(new[] { new TcpToEntry(0, dead, 2, Start.ToUnixTimeSeconds() + 121) }));

        time.Advance(TimeSpan.FromSeconds(5));
        (report, transcript, elapsed) = await Deliver("backup.qremote.test", home, time, port);
        Assert.That(report, Is.EqualTo(Accepted("127.0.0.20")));
        Assert.That(transcript, Does.Contain($"skip 127.0.0.19:{port}: 2 recent connect timeouts, the last 5s ago (tcpto)"));
        Assert.That(transcript, Does.Not.Contain("connect 127.0.0.19"));
        Assert.That(elapsed, Is.LessThan(TimeSpan.FromSeconds(1)), "no connect timeout waited for");
        Assert.That(TcpToFile.Ipv4(home.Ipv4), Is.EqualTo(new[] { new TcpToEntry(0, dead, 2, Start.ToUnixTimeSeconds() + 121) }));

        // The window over ((60 + 0) << 6 = 3840 s for pid 0), the dead one is tried again.
        time.Advance(TimeSpan.FromSeconds(3840));
        (report, transcript, _) = await Deliver("backup.qremote.test", home, time, port);
        Assert.That(report, Is.EqualTo(Accepted("127.0.0.20")));
        Assert.That(transcript, Does.Contain($"connect 127.0.0.19:{port}: timed out after 1s"));
        Assert.That(TcpToFile.Ipv4(home.Ipv4), Is.EqualTo(new[] { new TcpToEntry(0, dead, 3, Start.ToUnixTimeSeconds() + 121 + 5 + 3840) }));
    }

    [Test]
    public async Task A_refused_literal_clears_its_count()
    {
        using var home = TcpToHome.Create();
        var address = IPAddress.Parse("127.0.0.93");
        TcpToFile.WriteIpv4(home.Ipv4, [new TcpToEntry(7, address, 1, Start.ToUnixTimeSeconds() - 30)]);
        var (report, transcript, _) = await Deliver("[127.0.0.93]", home, FakeClock.StoppedAt(Start), FreePort.Tcp(address));
        Assert.That(report, Is.EqualTo("ZSorry, I wasn't able to establish an SMTP connection. (#4.4.1)\n\\0"));
        Assert.That(transcript, Does.Contain("ConnectionRefused"));
        Assert.That(TcpToFile.Ipv4(home.Ipv4), Is.Empty);
        var record = File.ReadAllBytes(home.Ipv4).AsSpan(7 * 16, 16).ToArray();
        Assert.That(record[..5], Is.EqualTo(new byte[] { 127, 0, 0, 93, 0 }), "address kept, count cleared");
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(record.AsSpan(8)), Is.EqualTo(Start.ToUnixTimeSeconds() - 30), "time kept");
    }

    [Test]
    public async Task Every_address_skipped_is_no_connection_a_deferral_at_once()
    {
        using var home = TcpToHome.Create();
        var address = IPAddress.Parse("127.0.0.94");
        TcpToFile.WriteIpv4(home.Ipv4, [new TcpToEntry(0, address, 2, Start.ToUnixTimeSeconds() - 60)]);
        var before = File.ReadAllBytes(home.Ipv4);
        var (report, transcript, elapsed) = await Deliver("[127.0.0.94]", home, FakeClock.StoppedAt(Start), 25);
        Assert.That(report, Is.EqualTo("ZSorry, I wasn't able to establish an SMTP connection. (#4.4.1)\n\\0"));
        Assert.That(transcript, Does.Contain("skip 127.0.0.94:25: 2 recent connect timeouts, the last 60s ago (tcpto)"));
        Assert.That(elapsed, Is.LessThan(TimeSpan.FromSeconds(1)));
        Assert.That(File.ReadAllBytes(home.Ipv4), Is.EqualTo(before));
    }

    [Test]
    public async Task Without_a_qmail_home_there_is_no_memory()
    {
        using var home = TcpToHome.Create();
        var address = IPAddress.Parse("127.0.0.94");
        TcpToFile.WriteIpv4(home.Ipv4, [new TcpToEntry(0, address, 2, Start.ToUnixTimeSeconds() - 60)]);
        var (report, transcript, _) = await Deliver("[127.0.0.94]", null, FakeClock.StoppedAt(Start), FreePort.Tcp(address));
        Assert.That(report, Is.EqualTo("ZSorry, I wasn't able to establish an SMTP connection. (#4.4.1)\n\\0"));
        Assert.That(transcript, Does.Contain("ConnectionRefused"));
    }

    private static async Task<(string Report, string Transcript, TimeSpan Elapsed)> Deliver(string host, TcpToHome? home, TimeProvider time, int port)
    {
        await using var source = await MessageSource.OpenAsync(new MemoryStream(Encoding.UTF8.GetBytes(Message)), Path.GetTempPath(), CancellationToken.None);
        using var transcript = new StringWriter(CultureInfo.InvariantCulture);
        var options = new DeliveryOptions
        {
            Config = Harness.Config(timeoutConnect: 1),
            Resolver = ResolverConfig.Load(DnsFixture.ResolvConf),
            SmtpPort = port,
            Random = new Random(1),
            LocalAddresses = new FixedLocalAddresses(IPAddress.Loopback, IPAddress.IPv6Loopback),
            Transcript = transcript,
            Time = time,
            QmailHome = home?.Path,
            ProcessId = 0,
        };
        var clock = Stopwatch.StartNew();
        var report = await Deliverer.DeliverAsync(new Invocation(host, "s@qremote.test", [$"rcpt@{host}"]), source, options, CancellationToken.None);
        var elapsed = clock.Elapsed;
        TestContext.Out.WriteLine(transcript.ToString());
        return (Harness.Shown(ReportWriter.Format(report)), transcript.ToString(), elapsed);
    }
}
