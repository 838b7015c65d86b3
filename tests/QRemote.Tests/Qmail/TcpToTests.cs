using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using QRemote.Qmail;
using QRemote.Smtp;
using QRemote.Tests.Infrastructure;

namespace QRemote.Tests.Qmail;

/// <summary>
/// netqmail's connect-timeout memory against real files and real sockets: qmail's 1024-byte
/// <c>queue/lock/tcpto</c> in a temporary qmail home, checked byte by byte against the layout qmail's
/// tools read (decoded here independently of QRemote), timeouts made by a listener whose queue is full.
/// </summary>
public sealed class TcpToTests
{
    private static readonly DateTimeOffset Start = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000);

    [Test]
    public async Task A_connect_timeout_is_recorded_counted_again_after_the_damper_and_then_skipped()
    {
        using var home = TcpToHome.Create();
        var time = FakeClock.StoppedAt(Start);
        var tcpto = new TcpTo(home.Path, time, processId: 0);
        using var hole = BlackHole.Start(IPAddress.Parse("127.0.0.91"));

        Assert.That(await tcpto.CheckAsync(hole.Address, CancellationToken.None), Is.EqualTo(default(TcpToCheck)));
        await TimeOutAndRecord(tcpto, hole);
        Assert.That(TcpToFile.Ipv4(home.Ipv4), Is.EqualTo(new[] { new TcpToEntry(0, hole.Address, 1, Start.ToUnixTimeSeconds()) }));

        // Within two minutes of the last one: not counted.
        time.Advance(TimeSpan.FromSeconds(119));
        Assert.That(await tcpto.CheckAsync(hole.Address, CancellationToken.None), Is.EqualTo(new TcpToCheck(false, 1, 119)));
        await TimeOutAndRecord(tcpto, hole);
        Assert.That(TcpToFile.Ipv4(home.Ipv4), Is.EqualTo(new[] { new TcpToEntry(0, hole.Address, 1, Start.ToUnixTimeSeconds()) }));

        time.Advance(TimeSpan.FromSeconds(1));
        await TimeOutAndRecord(tcpto, hole);
        var second = Start.ToUnixTimeSeconds() + 120;
        Assert.That(TcpToFile.Ipv4(home.Ipv4), Is.EqualTo(new[] { new TcpToEntry(0, hole.Address, 2, second) }));

        // Two timeouts: skipped for (60 + (pid & 31)) << 6 = 3840 s with pid 0.
        Assert.That(await tcpto.CheckAsync(hole.Address, CancellationToken.None), Is.EqualTo(new TcpToCheck(true, 2, 0)));
        time.Advance(TimeSpan.FromSeconds(3839));
        Assert.That((await tcpto.CheckAsync(hole.Address, CancellationToken.None)).Skip, Is.True);
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.That(await tcpto.CheckAsync(hole.Address, CancellationToken.None), Is.EqualTo(new TcpToCheck(false, 2, 3840)));
    }

    [Test]
    public async Task Records_are_qmails_16_bytes_and_nothing_else_in_the_file_changes()
    {
        using var home = TcpToHome.Create();
        var time = FakeClock.StoppedAt(DateTimeOffset.FromUnixTimeSeconds(0x66554433));
        var tcpto = new TcpTo(home.Path, time, processId: 0);
        await tcpto.RecordAsync(IPAddress.Parse("192.0.2.45"), timedOut: true, CancellationToken.None);
        time.Advance(TimeSpan.FromSeconds(0x100));
        await tcpto.RecordAsync(IPAddress.Parse("198.51.100.7"), timedOut: true, CancellationToken.None);

        var expected = new byte[1024];
        new byte[] { 192, 0, 2, 45, 1, 0, 0, 0, 0x33, 0x44, 0x55, 0x66, 0, 0, 0, 0 }.CopyTo(expected, 0);
        new byte[] { 198, 51, 100, 7, 1, 0, 0, 0, 0x33, 0x45, 0x55, 0x66, 0, 0, 0, 0 }.CopyTo(expected, 16);
        Assert.That(File.ReadAllBytes(home.Ipv4), Is.EqualTo(expected));

        // A success clears the count (when the address was there when checked); the rest stays.
        Assert.That((await tcpto.CheckAsync(IPAddress.Parse("192.0.2.45"), CancellationToken.None)).Timeouts, Is.EqualTo(1));
        await tcpto.RecordAsync(IPAddress.Parse("192.0.2.45"), timedOut: false, CancellationToken.None);
        expected[4] = 0;
        Assert.That(File.ReadAllBytes(home.Ipv4), Is.EqualTo(expected));
        Assert.That(File.Exists(home.Ipv6), Is.False, "IPv4 addresses never touch the IPv6 file");
    }

    [Test]
    public async Task Unused_bytes_of_a_record_are_left_as_they_were()
    {
        using var home = TcpToHome.Create();
        var bytes = new byte[1024];
        new byte[] { 192, 0, 2, 1, 1, 0xA5, 0xA6, 0xA7, 0, 0, 0, 0, 0xB1, 0xB2, 0xB3, 0xB4 }.CopyTo(bytes, 0);
        File.WriteAllBytes(home.Ipv4, bytes);
        var tcpto = new TcpTo(home.Path, FakeClock.StoppedAt(DateTimeOffset.FromUnixTimeSeconds(0x01020304)), 0);
        await tcpto.RecordAsync(IPAddress.Parse("192.0.2.1"), timedOut: true, CancellationToken.None);
        Assert.That(File.ReadAllBytes(home.Ipv4)[..16], Is.EqualTo(new byte[] { 192, 0, 2, 1, 2, 0xA5, 0xA6, 0xA7, 4, 3, 2, 1, 0xB1, 0xB2, 0xB3, 0xB4 }));
    }

    [Test]
    public async Task A_refused_connection_clears_the_count()
    {
        using var home = TcpToHome.Create();
        var time = FakeClock.StoppedAt(Start);
        var tcpto = new TcpTo(home.Path, time, 0);
        var address = IPAddress.Parse("127.0.0.92");
        await tcpto.RecordAsync(address, timedOut: true, CancellationToken.None);
        time.Advance(TimeSpan.FromSeconds(300));
        await tcpto.RecordAsync(address, timedOut: true, CancellationToken.None);
        time.Advance(TimeSpan.FromSeconds(3840));

        var check = await tcpto.CheckAsync(address, CancellationToken.None);
        Assert.That(check, Is.EqualTo(new TcpToCheck(false, 2, 3840)));
        var result = await Connector.ConnectAsync(new IPEndPoint(address, FreePort.Tcp(address)), TimeSpan.FromSeconds(5), CancellationToken.None);
        Assert.That((result.Socket, result.Error, result.TimedOut), Is.EqualTo(((Socket?)null, "ConnectionRefused", false)));
        await tcpto.RecordAsync(address, result.TimedOut, CancellationToken.None);
        Assert.That(TcpToFile.Ipv4(home.Ipv4), Is.Empty);
        Assert.That(TcpToFile.Ipv4(home.Ipv4, free: true), Is.EqualTo(new[] { new TcpToEntry(0, address, 0, Start.ToUnixTimeSeconds() + 300) }));
    }

    [Test]
    public async Task A_connection_clears_the_count_but_only_of_an_address_found_when_checked()
    {
        using var home = TcpToHome.Create();
        var time = FakeClock.StoppedAt(Start);
        var address = IPAddress.Parse("127.0.0.95");
        using var listener = new TcpListener(address, 0);
        listener.Start();
        var endpoint = (IPEndPoint)listener.LocalEndpoint;
        await new TcpTo(home.Path, time, 0).RecordAsync(address, timedOut: true, CancellationToken.None);
        var before = File.ReadAllBytes(home.Ipv4);

        // Another delivery that never checked (as after qmail-tcpok): nothing to clear, nothing written.
        var fresh = new TcpTo(home.Path, time, 0);
        await fresh.RecordAsync(address, timedOut: false, CancellationToken.None);
        Assert.That(File.ReadAllBytes(home.Ipv4), Is.EqualTo(before));

        Assert.That((await fresh.CheckAsync(address, CancellationToken.None)).Timeouts, Is.EqualTo(1));
        var result = await Connector.ConnectAsync(endpoint, TimeSpan.FromSeconds(5), CancellationToken.None);
        using (result.Socket)
        {
            Assert.That(result.Socket, Is.Not.Null);
            await fresh.RecordAsync(address, result.TimedOut, CancellationToken.None);
        }

        Assert.That(TcpToFile.Ipv4(home.Ipv4, free: true), Is.EqualTo(new[] { new TcpToEntry(0, address, 0, Start.ToUnixTimeSeconds()) }));
    }

    [Test]
    public async Task A_missing_file_is_no_memory_and_is_never_created()
    {
        using var home = TcpToHome.Create(withTcpto: false);
        var tcpto = new TcpTo(home.Path, FakeClock.StoppedAt(Start), 0);
        var address = IPAddress.Parse("192.0.2.9");
        for (var i = 0; i < 3; i++)
        {
            Assert.That(await tcpto.CheckAsync(address, CancellationToken.None), Is.EqualTo(default(TcpToCheck)));
            await tcpto.RecordAsync(address, timedOut: true, CancellationToken.None);
        }

        await tcpto.RecordAsync(address, timedOut: false, CancellationToken.None);
        Assert.That(Directory.GetFileSystemEntries(Path.Combine(home.Path, "queue", "lock")), Is.Empty);
    }

    [Test]
    public async Task An_empty_file_is_no_table_as_in_qmail()
    {
        using var home = TcpToHome.Create();
        File.WriteAllBytes(home.Ipv4, []);
        var tcpto = new TcpTo(home.Path, FakeClock.StoppedAt(Start), 0);
        await tcpto.RecordAsync(IPAddress.Parse("192.0.2.9"), timedOut: true, CancellationToken.None);
        Assert.That(new FileInfo(home.Ipv4).Length, Is.Zero);
    }

    [Test]
    public async Task A_missing_queue_lock_directory_is_no_memory_for_either_family()
    {
        var path = Directory.CreateTempSubdirectory("qremote-tcpto-").FullName;
        try
        {
            var tcpto = new TcpTo(path, FakeClock.StoppedAt(Start), 0);
            foreach (var address in new[] { IPAddress.Parse("192.0.2.9"), IPAddress.Parse("2001:db8::9") })
            {
                await tcpto.RecordAsync(address, timedOut: true, CancellationToken.None);
                Assert.That(await tcpto.CheckAsync(address, CancellationToken.None), Is.EqualTo(default(TcpToCheck)));
            }

            Assert.That(Directory.GetFileSystemEntries(path), Is.Empty);
        }
        finally
        {
            Directory.Delete(path, recursive: true);
        }
    }

    [Test]
    public async Task Ipv6_timeouts_go_to_our_own_file_created_on_the_first_one()
    {
        using var home = TcpToHome.Create();
        var time = FakeClock.StoppedAt(Start);
        var tcpto = new TcpTo(home.Path, time, processId: 31);
        using var hole = BlackHole.Start(IPAddress.IPv6Loopback);

        Assert.That(await tcpto.CheckAsync(hole.Address, CancellationToken.None), Is.EqualTo(default(TcpToCheck)));
        Assert.That(File.Exists(home.Ipv6), Is.False, "a check alone creates nothing");
        await TimeOutAndRecord(tcpto, hole);

        var expected = new byte[2048];
        IPAddress.IPv6Loopback.GetAddressBytes().CopyTo(expected, 0);
        expected[16] = 1;
        BinaryPrimitives.WriteInt64LittleEndian(expected.AsSpan(24), Start.ToUnixTimeSeconds());
        Assert.That(File.ReadAllBytes(home.Ipv6), Is.EqualTo(expected));
        Assert.That(File.ReadAllBytes(home.Ipv4), Is.EqualTo(new byte[1024]), "qmail's file holds IPv4 only");

        time.Advance(TimeSpan.FromSeconds(120));
        await TimeOutAndRecord(tcpto, hole);
        Assert.That(TcpToFile.Ipv6(home.Ipv6), Is.EqualTo(new[] { new TcpToEntry(0, IPAddress.IPv6Loopback, 2, Start.ToUnixTimeSeconds() + 120) }));

        // pid 31: (60 + 31) << 6 = 5824 s.
        time.Advance(TimeSpan.FromSeconds(5823));
        Assert.That(await tcpto.CheckAsync(hole.Address, CancellationToken.None), Is.EqualTo(new TcpToCheck(true, 2, 5823)));
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.That((await tcpto.CheckAsync(hole.Address, CancellationToken.None)).Skip, Is.False);
    }

    [Test]
    public async Task Ipv6_file_truncated_to_clear_it_reads_as_empty_and_grows_back()
    {
        using var home = TcpToHome.Create();
        File.WriteAllBytes(home.Ipv6, []);
        var tcpto = new TcpTo(home.Path, FakeClock.StoppedAt(Start), 0);
        var address = IPAddress.Parse("2001:db8::25");
        Assert.That(await tcpto.CheckAsync(address, CancellationToken.None), Is.EqualTo(default(TcpToCheck)));
        await tcpto.RecordAsync(address, timedOut: true, CancellationToken.None);
        Assert.That(new FileInfo(home.Ipv6).Length, Is.EqualTo(2048));
        Assert.That(TcpToFile.Ipv6(home.Ipv6), Is.EqualTo(new[] { new TcpToEntry(0, address, 1, Start.ToUnixTimeSeconds()) }));
    }

    [Test]
    public async Task Ipv4_mapped_ipv6_addresses_are_kept_in_qmails_file()
    {
        using var home = TcpToHome.Create();
        var tcpto = new TcpTo(home.Path, FakeClock.StoppedAt(Start), 0);
        await tcpto.RecordAsync(IPAddress.Parse("::ffff:192.0.2.77"), timedOut: true, CancellationToken.None);
        Assert.That(TcpToFile.Ipv4(home.Ipv4), Is.EqualTo(new[] { new TcpToEntry(0, IPAddress.Parse("192.0.2.77"), 1, Start.ToUnixTimeSeconds()) }));
        Assert.That(File.Exists(home.Ipv6), Is.False);
    }

    [Test]
    public async Task The_count_stops_at_ten()
    {
        using var home = TcpToHome.Create();
        var time = FakeClock.StoppedAt(Start);
        var tcpto = new TcpTo(home.Path, time, 0);
        var address = IPAddress.Parse("192.0.2.10");
        for (var i = 0; i < 12; i++)
        {
            await tcpto.RecordAsync(address, timedOut: true, CancellationToken.None);
            time.Advance(TimeSpan.FromSeconds(120));
        }

        Assert.That(TcpToFile.Ipv4(home.Ipv4), Is.EqualTo(new[] { new TcpToEntry(0, address, 10, time.GetUtcNow().ToUnixTimeSeconds() - 120) }));
    }

    [Test]
    public async Task A_new_address_takes_the_first_free_record_even_one_that_held_another_address()
    {
        using var home = TcpToHome.Create();
        var records = Enumerable.Range(0, 64).Select(i => new TcpToEntry(i, IPAddress.Parse($"10.0.0.{i}"), 3, 1_000_000 + i)).ToArray();
        records[17] = records[17] with { Count = 0 };
        records[40] = records[40] with { Count = 0 };
        TcpToFile.WriteIpv4(home.Ipv4, records);
        await new TcpTo(home.Path, FakeClock.StoppedAt(Start), 0).RecordAsync(IPAddress.Parse("192.0.2.99"), timedOut: true, CancellationToken.None);

        var now = TcpToFile.Ipv4(home.Ipv4);
        Assert.That(now.Single(r => r.Index == 17), Is.EqualTo(new TcpToEntry(17, IPAddress.Parse("192.0.2.99"), 1, Start.ToUnixTimeSeconds())));
        Assert.That(now.Where(r => r.Index != 17), Is.EqualTo(records.Where(r => r.Index != 17 && r.Count != 0)));
    }

    [Test]
    public async Task An_address_in_a_free_record_is_found_there_and_counted_afresh()
    {
        using var home = TcpToHome.Create();
        TcpToFile.WriteIpv4(home.Ipv4, [new TcpToEntry(0, IPAddress.Parse("10.0.0.1"), 0, 5), new TcpToEntry(5, IPAddress.Parse("192.0.2.5"), 0, 7)]);
        await new TcpTo(home.Path, FakeClock.StoppedAt(Start), 0).RecordAsync(IPAddress.Parse("192.0.2.5"), timedOut: true, CancellationToken.None);
        Assert.That(TcpToFile.Ipv4(home.Ipv4), Is.EqualTo(new[] { new TcpToEntry(5, IPAddress.Parse("192.0.2.5"), 1, Start.ToUnixTimeSeconds()) }));
    }

    [Test]
    public async Task With_no_free_record_the_smallest_time_plus_count_times_1024_goes_first_of_equals()
    {
        using var home = TcpToHome.Create();
        var records = Enumerable.Range(0, 64).Select(i => new TcpToEntry(i, IPAddress.Parse($"10.0.0.{i}"), 10, 1_000_000)).ToArray();
        // 1,000,000 + 10 << 10 = 1,010,240 for the rest; these weigh less.
        records[9] = records[9] with { Count = 2, When = 1_008_000 };   // 1,010,048
        records[30] = records[30] with { Count = 1, When = 1_009_024 }; // 1,010,048: equal, later
        records[50] = records[50] with { Count = 5, When = 1_005_000 }; // 1,010,120
        TcpToFile.WriteIpv4(home.Ipv4, records);
        await new TcpTo(home.Path, FakeClock.StoppedAt(Start), 0).RecordAsync(IPAddress.Parse("192.0.2.99"), timedOut: true, CancellationToken.None);

        var now = TcpToFile.Ipv4(home.Ipv4);
        Assert.That(now[9], Is.EqualTo(new TcpToEntry(9, IPAddress.Parse("192.0.2.99"), 1, Start.ToUnixTimeSeconds())));
        Assert.That(now.Where(r => r.Index != 9), Is.EqualTo(records.Where(r => r.Index != 9)));
    }

    [Test]
    public async Task A_short_qmail_file_holds_only_the_records_it_has()
    {
        using var home = TcpToHome.Create();
        File.WriteAllBytes(home.Ipv4, new byte[16 * 2 + 5]);
        var time = FakeClock.StoppedAt(Start);
        var tcpto = new TcpTo(home.Path, time, 0);
        foreach (var last in new[] { 1, 2, 3 })
        {
            await tcpto.RecordAsync(IPAddress.Parse($"192.0.2.{last}"), timedOut: true, CancellationToken.None);
            time.Advance(TimeSpan.FromSeconds(10));
        }

        Assert.That(new FileInfo(home.Ipv4).Length, Is.EqualTo(37));
        // The third took the record of the first (smallest time), not a third record.
        Assert.That(TcpToFile.Ipv4(home.Ipv4), Is.EqualTo(new[]
        {
            new TcpToEntry(0, IPAddress.Parse("192.0.2.3"), 1, Start.ToUnixTimeSeconds() + 20),
            new TcpToEntry(1, IPAddress.Parse("192.0.2.2"), 1, Start.ToUnixTimeSeconds() + 10),
        }));
    }

    [Test]
    public async Task A_last_timeout_in_the_future_is_stale_as_qmails_unsigned_times_make_it()
    {
        using var home = TcpToHome.Create();
        var address = IPAddress.Parse("192.0.2.11");
        TcpToFile.WriteIpv4(home.Ipv4, [new TcpToEntry(0, address, 5, Start.ToUnixTimeSeconds() + 600)]);
        Assert.That(await new TcpTo(home.Path, FakeClock.StoppedAt(Start), 0).CheckAsync(address, CancellationToken.None), Is.EqualTo(new TcpToCheck(false, 5, -600)));
    }

    [Test]
    public async Task What_we_write_is_what_qmail_tcpto_lists()
    {
        // qmail-tcpto reads the compiled-in /var/qmail (not installed here, and never to be touched):
        // its listing is rebuilt from the file by TcpToFile, from the layout alone.
        using var home = TcpToHome.Create();
        var time = FakeClock.StoppedAt(Start);
        var tcpto = new TcpTo(home.Path, time, 0);
        await tcpto.RecordAsync(IPAddress.Parse("192.0.2.1"), timedOut: true, CancellationToken.None);
        time.Advance(TimeSpan.FromSeconds(200));
        await tcpto.RecordAsync(IPAddress.Parse("192.0.2.1"), timedOut: true, CancellationToken.None);
        await tcpto.RecordAsync(IPAddress.Parse("203.0.113.250"), timedOut: true, CancellationToken.None);
        time.Advance(TimeSpan.FromSeconds(42));
        Assert.That(TcpToFile.QmailTcpToListing(home.Ipv4, time.GetUtcNow().ToUnixTimeSeconds()), Is.EqualTo(
            "192.0.2.1 timed out 42 seconds ago; # recent timeouts: 2\n" +
            "203.0.113.250 timed out 42 seconds ago; # recent timeouts: 1\n"));
    }

    [Test]
    public async Task Clearing_as_qmail_tcpok_does_under_the_lock_forgets_everything()
    {
        using var home = TcpToHome.Create();
        var time = FakeClock.StoppedAt(Start);
        var address = IPAddress.Parse("192.0.2.12");
        TcpToFile.WriteIpv4(home.Ipv4, [new TcpToEntry(3, address, 4, Start.ToUnixTimeSeconds() - 10)]);
        Assert.That((await new TcpTo(home.Path, time, 0).CheckAsync(address, CancellationToken.None)).Skip, Is.True);

        // qmail-tcpok: open for writing (no truncation), flock, 1024 zero bytes at offset 0.
        using (var tcpok = Flock(home.Ipv4, "dd if=/dev/zero of=\"$0\" bs=1024 count=1 conv=notrunc status=none", home.Ipv4))
        {
            tcpok.WaitForExit();
            Assert.That(tcpok.ExitCode, Is.Zero);
        }

        Assert.That(File.ReadAllBytes(home.Ipv4), Is.EqualTo(new byte[1024]));
        Assert.That(await new TcpTo(home.Path, time, 0).CheckAsync(address, CancellationToken.None), Is.EqualTo(default(TcpToCheck)));
    }

    [Test]
    public async Task The_lock_is_flock_on_the_file_shared_with_qmails_tools()
    {
        using var home = TcpToHome.Create();
        var marker = Path.Combine(home.Path, "locked");
        using var holder = Flock(home.Ipv4, "touch \"$0\"; sleep 1", marker);
        WaitFor.Condition(() => File.Exists(marker), "flock(1) holding the lock");

        var clock = Stopwatch.StartNew();
        await new TcpTo(home.Path, FakeClock.StoppedAt(Start), 0).RecordAsync(IPAddress.Parse("192.0.2.13"), timedOut: true, CancellationToken.None);
        Assert.That(clock.Elapsed, Is.GreaterThan(TimeSpan.FromMilliseconds(300)), "waited for the holder");
        Assert.That(TcpToFile.Ipv4(home.Ipv4).Single().Address, Is.EqualTo(IPAddress.Parse("192.0.2.13")));
    }

    [Test]
    public async Task A_lock_held_too_long_means_no_memory_this_time_not_a_failure()
    {
        using var home = TcpToHome.Create();
        var marker = Path.Combine(home.Path, "locked");
        using var holder = Flock(home.Ipv4, "touch \"$0\"; sleep 3", marker);
        WaitFor.Condition(() => File.Exists(marker), "flock(1) holding the lock");

        var tcpto = new TcpTo(home.Path, FakeClock.StoppedAt(Start), 0) { LockWait = TimeSpan.FromMilliseconds(200) };
        var clock = Stopwatch.StartNew();
        await tcpto.RecordAsync(IPAddress.Parse("192.0.2.14"), timedOut: true, CancellationToken.None);
        Assert.That(await tcpto.CheckAsync(IPAddress.Parse("192.0.2.14"), CancellationToken.None), Is.EqualTo(default(TcpToCheck)));
        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(2)));
        holder.Kill(entireProcessTree: true);
        holder.WaitForExit();
        // (.NET's own File reads take a shared flock: only now can the test look.)
        Assert.That(File.ReadAllBytes(home.Ipv4), Is.EqualTo(new byte[1024]));
    }

    [Test]
    public async Task Waits_for_a_held_lock_hold_no_thread()
    {
        // In the daemon every delivery's wait for the lock would otherwise hold a pool thread for up to LockWait.
        // The waits and a sentinel share a scheduler of one thread: the sentinel runs while the lock is still held
        // only if no wait holds that thread.
        using var home = TcpToHome.Create();
        var tcpto = new TcpTo(home.Path, FakeClock.StoppedAt(Start), 0) { LockWait = TimeSpan.FromSeconds(10) };
        var address = IPAddress.Parse("192.0.2.20");
        await tcpto.RecordAsync(address, timedOut: true, CancellationToken.None);
        var marker = Path.Combine(home.Path, "locked");
        using var holder = Flock(home.Ipv4, "touch \"$0\"; sleep 60", marker);
        WaitFor.Condition(() => File.Exists(marker), "flock(1) holding the lock");

        var one = new ConcurrentExclusiveSchedulerPair(TaskScheduler.Default, maxConcurrencyLevel: 1).ConcurrentScheduler;
        var factory = new TaskFactory(CancellationToken.None, TaskCreationOptions.None, TaskContinuationOptions.None, one);
        var waits = Enumerable.Range(0, 4).Select(_ => factory.StartNew(() => tcpto.CheckAsync(address, CancellationToken.None)).Unwrap()).ToList();
        var finishedBeforeTheSentinel = await factory.StartNew(() => waits.Count(w => w.IsCompleted));
        var stillHeld = !holder.HasExited;
        holder.Kill(entireProcessTree: true);
        holder.WaitForExit();

        Assert.That((finishedBeforeTheSentinel, stillHeld), Is.EqualTo((0, true)), "every wait was still waiting, off the thread, when the sentinel ran");
        // Once the lock is free every wait gets it and reads the record (they waited for it, not gave up).
        Assert.That((await Task.WhenAll(waits)).Select(c => c.Timeouts), Is.EqualTo(new[] { 1, 1, 1, 1 }));
    }

    [TestCase(0, 3840)]
    [TestCase(31, 5824)]
    [TestCase(32, 3840)]
    [TestCase(1000, 4352)]
    public async Task The_skip_window_is_jittered_by_the_process_id(int pid, long seconds)
    {
        Assert.That(TcpTo.SkipSeconds(pid), Is.EqualTo(seconds));
        using var home = TcpToHome.Create();
        var address = IPAddress.Parse("192.0.2.15");
        TcpToFile.WriteIpv4(home.Ipv4, [new TcpToEntry(0, address, 2, Start.ToUnixTimeSeconds())]);
        var time = FakeClock.StoppedAt(Start.AddSeconds(seconds - 1));
        Assert.That((await new TcpTo(home.Path, time, pid).CheckAsync(address, CancellationToken.None)).Skip, Is.True);
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.That((await new TcpTo(home.Path, time, pid).CheckAsync(address, CancellationToken.None)).Skip, Is.False);
    }

    [Test]
    public async Task One_timeout_alone_never_skips()
    {
        using var home = TcpToHome.Create();
        var address = IPAddress.Parse("192.0.2.16");
        TcpToFile.WriteIpv4(home.Ipv4, [new TcpToEntry(0, address, 1, Start.ToUnixTimeSeconds())]);
        Assert.That(await new TcpTo(home.Path, FakeClock.StoppedAt(Start), 0).CheckAsync(address, CancellationToken.None), Is.EqualTo(new TcpToCheck(false, 1, 0)));
    }

    private static async Task TimeOutAndRecord(TcpTo tcpto, BlackHole hole)
    {
        var clock = Stopwatch.StartNew();
        var result = await Connector.ConnectAsync(hole.EndPoint, TimeSpan.FromSeconds(1), CancellationToken.None);
        Assert.That((result.Socket, result.Error, result.TimedOut), Is.EqualTo(((Socket?)null, "timed out after 1s", true)));
        Assert.That(clock.Elapsed, Is.GreaterThan(TimeSpan.FromMilliseconds(900)));
        await tcpto.RecordAsync(hole.Address, result.TimedOut, CancellationToken.None);
    }

    /// <summary>util-linux flock(1): takes flock(LOCK_EX) on the file, as qmail's lock_ex does, holds it while a shell command runs.</summary>
    private static Process Flock(string file, string command, string argument)
    {
        var info = new ProcessStartInfo("/usr/bin/flock") { UseShellExecute = false };
        // -o: the lock stays with flock(1) itself, not the command, so it goes when flock(1) does.
        foreach (var a in new[] { "-x", "-o", file, "/bin/sh", "-c", command, argument })
        {
            info.ArgumentList.Add(a);
        }

        return Process.Start(info) ?? throw new InvalidOperationException("flock(1) did not start");
    }
}
