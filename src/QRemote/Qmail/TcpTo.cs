using System.Net;
using System.Net.Sockets;

namespace QRemote.Qmail;

/// <summary>
/// netqmail's connection-timeout memory ("tcpto"), shared with qmail's own tools: an address whose
/// connects timed out twice, more than two minutes apart, is skipped for about an hour, so one dead
/// exchanger does not cost every delivery a full <c>timeoutconnect</c>. IPv4 addresses live in
/// qmail's own <c>queue/lock/tcpto</c> in its exact format (qmail-tcpto lists them, qmail-tcpok and
/// qmail-rspawn's start-up clear them); IPv6 addresses, which qmail's 4-byte records cannot hold, live
/// in <c>queue/lock/qremote-tcpto6</c>, ours. See docs/tcpto.md for both layouts.
/// Nothing here ever fails a delivery: a file that is missing, unreadable, unwritable or locked for
/// too long just means no memory for that attempt.
/// </summary>
internal sealed class TcpTo
{
    /// <summary>qmail's file, relative to the qmail home. Never created by us (nor by qmail-remote).</summary>
    public const string Ipv4File = "queue/lock/tcpto";

    /// <summary>Ours, for IPv6, relative to the qmail home; created when <c>queue/lock</c> lets us.</summary>
    public const string Ipv6File = "queue/lock/qremote-tcpto6";

    /// <summary>Records in each file.</summary>
    public const int RecordCount = 64;

    /// <summary>The count saturates here.</summary>
    public const int MaxTimeouts = 10;

    /// <summary>A timeout within this many seconds of the last one recorded is not counted again.</summary>
    public const int DamperSeconds = 120;

    /// <summary>qmail's record: 4-byte address, count at byte 4, 32-bit little-endian time at byte 8.</summary>
    private static readonly TcpToTable.Layout Ipv4 = new(RecordSize: 16, AddressLength: 4, CountOffset: 4, WhenOffset: 8, WhenLength: 4, Create: false);

    /// <summary>Ours: 16-byte address, count at byte 16, 64-bit little-endian time at byte 24.</summary>
    private static readonly TcpToTable.Layout Ipv6 = new(RecordSize: 32, AddressLength: 16, CountOffset: 16, WhenOffset: 24, WhenLength: 8, Create: true);

    private readonly string _ipv4Path;
    private readonly string _ipv6Path;
    private readonly TimeProvider _time;
    private readonly int _processId;
    private readonly HashSet<IPAddress> _found = [];

    public TcpTo(string qmailHome, TimeProvider time, int processId)
    {
        _time = time ?? throw new ArgumentNullException(nameof(time));
        _processId = processId;
        _ipv4Path = Path.Combine(qmailHome, Ipv4File);
        _ipv6Path = Path.Combine(qmailHome, Ipv6File);
    }

    /// <summary>How long to wait for another process's lock before going on without the table.
    /// qmail waits for ever; its holders keep the lock for one read and one 16-byte write.</summary>
    internal TimeSpan LockWait { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How long an address with two or more recent timeouts is skipped: (60 + (pid &amp; 31)) &lt;&lt; 6
    /// seconds, 64 to 97 minutes, so concurrent deliveries do not all come back to it at once.</summary>
    public static long SkipSeconds(int processId) => (60L + (processId & 31)) << 6;

    /// <summary>Reads the table before a connection attempt (netqmail's <c>tcpto()</c>).</summary>
    public async Task<TcpToCheck> CheckAsync(IPAddress address, CancellationToken cancellationToken)
    {
        var (key, layout, path) = Select(address);
        _found.Remove(key);
        using var table = await TcpToTable.OpenAsync(path, layout, create: false, LockWait, cancellationToken).ConfigureAwait(false);
        if (table is null)
        {
            return default;
        }

        // Like qmail, the lock goes as soon as the table is read.
        table.Unlock();
        var i = table.Find(key);
        if (i < 0)
        {
            return default;
        }

        _found.Add(key);
        var count = table.Count(i);
        var since = Now() - table.When(i);
        // qmail's times are unsigned: a last timeout in the future (the clock went back) is stale.
        var skip = count >= 2 && since >= 0 && since < SkipSeconds(_processId);
        return new TcpToCheck(skip, count, since);
    }

    /// <summary>
    /// Records how a connection attempt ended (netqmail's <c>tcpto_err()</c>): a timeout counts (at most
    /// once in <see cref="DamperSeconds"/>); anything else, a connection or a refusal, clears the count
    /// of an address that <see cref="CheckAsync"/> found in the table.
    /// </summary>
    public async Task RecordAsync(IPAddress address, bool timedOut, CancellationToken cancellationToken)
    {
        var (key, layout, path) = Select(address);
        if (!timedOut && !_found.Contains(key))
        {
            // Not in the table when we looked: nothing to clear.
            return;
        }

        // Our IPv6 file comes into being with the first timeout to record, if queue/lock lets us.
        using var table = await TcpToTable.OpenAsync(path, layout, create: timedOut && layout.Create, LockWait, cancellationToken).ConfigureAwait(false);
        if (table is null)
        {
            return;
        }

        var now = Now();
        var i = table.Find(key);
        if (i >= 0)
        {
            if (!timedOut)
            {
                table.SetCount(i, 0);
            }
            else
            {
                var count = table.Count(i);
                if (count != 0 && now < table.When(i) + DamperSeconds)
                {
                    return;
                }

                table.SetCount(i, Math.Min(count + 1, MaxTimeouts));
                table.SetWhen(i, now);
            }

            table.WriteRecord(i);
            return;
        }

        if (!timedOut)
        {
            return;
        }

        // A new address: the first free record, else the one with the oldest, least-counted timeout.
        i = table.FirstFree();
        if (i < 0)
        {
            long best = 0;
            for (var j = 0; j < table.Length; j++)
            {
                var weight = table.When(j) + ((long)table.Count(j) << 10);
                if (i < 0 || weight < best)
                {
                    i = j;
                    best = weight;
                }
            }
        }

        if (i < 0)
        {
            return;
        }

        table.SetAddress(i, key);
        table.SetWhen(i, now);
        table.SetCount(i, 1);
        table.WriteRecord(i);
    }

    private long Now() => _time.GetUtcNow().ToUnixTimeSeconds();

    private (IPAddress Key, TcpToTable.Layout Layout, string Path) Select(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        return address.AddressFamily == AddressFamily.InterNetwork
            ? (address, Ipv4, _ipv4Path)
            : (new IPAddress(address.GetAddressBytes()), Ipv6, _ipv6Path);
    }
}
