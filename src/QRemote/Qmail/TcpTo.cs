using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using QRemote.Posix;

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
public sealed class TcpTo
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
    private static readonly Layout Ipv4 = new(RecordSize: 16, AddressLength: 4, CountOffset: 4, WhenOffset: 8, WhenLength: 4, Create: false);

    /// <summary>Ours: 16-byte address, count at byte 16, 64-bit little-endian time at byte 24.</summary>
    private static readonly Layout Ipv6 = new(RecordSize: 32, AddressLength: 16, CountOffset: 16, WhenOffset: 24, WhenLength: 8, Create: true);

    private readonly string _ipv4Path;
    private readonly string _ipv6Path;
    private readonly TimeProvider _time;
    private readonly int _processId;
    private readonly HashSet<IPAddress> _found = [];

    public TcpTo(string qmailHome, TimeProvider time, int processId)
    {
        ArgumentNullException.ThrowIfNull(qmailHome);
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
        ArgumentNullException.ThrowIfNull(address);
        var (key, layout, path) = Select(address);
        _found.Remove(key);
        using var table = await LockedTable.OpenAsync(path, layout, create: false, LockWait, cancellationToken).ConfigureAwait(false);
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
        ArgumentNullException.ThrowIfNull(address);
        var (key, layout, path) = Select(address);
        if (!timedOut && !_found.Contains(key))
        {
            // Not in the table when we looked: nothing to clear.
            return;
        }

        // Our IPv6 file comes into being with the first timeout to record, if queue/lock lets us.
        using var table = await LockedTable.OpenAsync(path, layout, create: timedOut && layout.Create, LockWait, cancellationToken).ConfigureAwait(false);
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

    private (IPAddress Key, Layout Layout, string Path) Select(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        return address.AddressFamily == AddressFamily.InterNetwork
            ? (address, Ipv4, _ipv4Path)
            : (new IPAddress(address.GetAddressBytes()), Ipv6, _ipv6Path);
    }

    private sealed record Layout(int RecordSize, int AddressLength, int CountOffset, int WhenOffset, int WhenLength, bool Create)
    {
        public int FileSize => RecordSize * RecordCount;
    }

    /// <summary>One file, open, flock'ed exclusively, and read; closing it drops the lock.</summary>
    private sealed class LockedTable : IDisposable
    {
        private readonly Layout _layout;
        private readonly byte[] _buffer;
        private int _fd;

        private readonly int _fileLength;

        private LockedTable(int fd, Layout layout, byte[] buffer, int fileLength, int length)
        {
            _fd = fd;
            _layout = layout;
            _buffer = buffer;
            _fileLength = fileLength;
            Length = length;
        }

        /// <summary>Records in use: what the file holds (qmail's rule), or all of them for our own file.</summary>
        public int Length { get; }

        public static async Task<LockedTable?> OpenAsync(string path, Layout layout, bool create, TimeSpan lockWait, CancellationToken cancellationToken)
        {
            // Not through a link, and only a regular file with one name: whoever can write queue/lock must not make
            // qremote (run by hand as root, say) write records into some other file.
            var fd = Libc.OpenRegularNoFollow(path, Libc.ORdwr | (create ? Libc.OCreat : 0), Libc.Mode0640);
            if (fd < 0)
            {
                return null;
            }

            if (!await LockAsync(fd, lockWait, cancellationToken).ConfigureAwait(false))
            {
                _ = Libc.Close(fd);
                return null;
            }

            var buffer = new byte[layout.FileSize];
            var read = ReadAll(fd, buffer);
            if (read < 0)
            {
                _ = Libc.Close(fd);
                return null;
            }

            // qmail's file: only whole records that are there (an empty file is no table). Ours: a
            // short file (new, or truncated to clear it) reads as zeros and grows as records are written.
            var length = layout.Create ? RecordCount : read / layout.RecordSize;
            if (length == 0)
            {
                _ = Libc.Close(fd);
                return null;
            }

            return new LockedTable(fd, layout, buffer, read, length);
        }

        public int Find(IPAddress address)
        {
            Span<byte> key = stackalloc byte[16];
            _ = address.TryWriteBytes(key, out var written);
            key = key[..written];
            for (var i = 0; i < Length; i++)
            {
                if (Record(i)[.._layout.AddressLength].SequenceEqual(key))
                {
                    return i;
                }
            }

            return -1;
        }

        public int FirstFree()
        {
            for (var i = 0; i < Length; i++)
            {
                if (Count(i) == 0)
                {
                    return i;
                }
            }

            return -1;
        }

        public int Count(int i) => Record(i)[_layout.CountOffset];

        public long When(int i)
        {
            var bytes = Record(i).Slice(_layout.WhenOffset, _layout.WhenLength);
            return _layout.WhenLength == 4 ? BinaryPrimitives.ReadUInt32LittleEndian(bytes) : BinaryPrimitives.ReadInt64LittleEndian(bytes);
        }

        public void SetCount(int i, int count) => Record(i)[_layout.CountOffset] = (byte)count;

        public void SetWhen(int i, long when)
        {
            var bytes = Record(i).Slice(_layout.WhenOffset, _layout.WhenLength);
            if (_layout.WhenLength == 4)
            {
                // qmail keeps the low 32 bits.
                BinaryPrimitives.WriteUInt32LittleEndian(bytes, unchecked((uint)when));
            }
            else
            {
                BinaryPrimitives.WriteInt64LittleEndian(bytes, when);
            }
        }

        public void SetAddress(int i, IPAddress address) => _ = address.TryWriteBytes(Record(i)[.._layout.AddressLength], out _);

        /// <summary>Writes record i back, whole, in place (the other bytes of the file are not touched).</summary>
        public unsafe void WriteRecord(int i)
        {
            if (_fd < 0)
            {
                return;
            }

            if (_layout.Create && _fileLength < _layout.FileSize)
            {
                // Ours, new or truncated: back to its full size (zeros) before the record goes in.
                _ = Libc.FTruncate(_fd, _layout.FileSize);
            }

            fixed (byte* p = &_buffer[i * _layout.RecordSize])
            {
                // One write; a short one (a full disk) is left as it is, as qmail does.
                _ = Libc.PWrite(_fd, p, _layout.RecordSize, (long)i * _layout.RecordSize);
            }
        }

        /// <summary>Closes the file, which drops the lock; the records read stay readable.</summary>
        public void Unlock()
        {
            if (_fd >= 0)
            {
                _ = Libc.Close(_fd);
                _fd = -1;
            }
        }

        public void Dispose() => Unlock();

        private Span<byte> Record(int i) => _buffer.AsSpan(i * _layout.RecordSize, _layout.RecordSize);

        /// <summary>
        /// flock(2) without blocking, polled: a blocking flock, or a sleep between tries, would hold a thread for the
        /// whole wait, and in the daemon every delivery waiting on the lock would hold one of the pool's few. The
        /// poll starts at 5 ms (qmail's holders keep the lock for one read and one write) and backs off to 100 ms.
        /// Cancelled, it gives up like a timeout: no memory this time.
        /// </summary>
        private static async Task<bool> LockAsync(int fd, TimeSpan wait, CancellationToken cancellationToken)
        {
            var deadline = Environment.TickCount64 + (long)wait.TotalMilliseconds;
            var pause = 5;
            while (true)
            {
                if (Libc.FLock(fd, Libc.LockEx | Libc.LockNb) == 0)
                {
                    return true;
                }

                var errno = Marshal.GetLastPInvokeError();
                var left = deadline - Environment.TickCount64;
                if ((errno != Libc.Ewouldblock && errno != Libc.Eintr) || left <= 0)
                {
                    return false;
                }

                if (errno == Libc.Eintr)
                {
                    continue;
                }

                try
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(pause, left)), cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return false;
                }

                pause = Math.Min(pause * 2, 100);
            }
        }

        private static unsafe int ReadAll(int fd, byte[] buffer)
        {
            var total = 0;
            fixed (byte* p = buffer)
            {
                while (total < buffer.Length)
                {
                    var n = Libc.PRead(fd, p + total, buffer.Length - total, total);
                    if (n < 0)
                    {
                        if (Marshal.GetLastPInvokeError() == Libc.Eintr)
                        {
                            continue;
                        }

                        return -1;
                    }

                    if (n == 0)
                    {
                        break;
                    }

                    total += (int)n;
                }
            }

            return total;
        }
    }
}
