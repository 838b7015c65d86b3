using System.Buffers.Binary;
using System.Net;
using System.Runtime.InteropServices;
using QRemote.Posix;

namespace QRemote.Qmail;

/// <summary>One tcpto file (<see cref="TcpTo"/>), open, flock'ed exclusively, and read; closing it drops the lock.</summary>
internal sealed class TcpToTable : IDisposable
{
    /// <summary>Where a record's fields are, in one of the two files (docs/tcpto.md).</summary>
    public sealed record Layout(int RecordSize, int AddressLength, int CountOffset, int WhenOffset, int WhenLength, bool Create)
    {
        public int FileSize => RecordSize * TcpTo.RecordCount;
    }

    private readonly Layout _layout;
    private readonly byte[] _buffer;
    private int _fd;

    private readonly int _fileLength;

    private TcpToTable(int fd, Layout layout, byte[] buffer, int fileLength, int length)
    {
        _fd = fd;
        _layout = layout;
        _buffer = buffer;
        _fileLength = fileLength;
        Length = length;
    }

    /// <summary>Records in use: what the file holds (qmail's rule), or all of them for our own file.</summary>
    public int Length { get; }

    public static async Task<TcpToTable?> OpenAsync(string path, Layout layout, bool create, TimeSpan lockWait, CancellationToken cancellationToken)
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
        var length = layout.Create ? TcpTo.RecordCount : read / layout.RecordSize;
        if (length == 0)
        {
            _ = Libc.Close(fd);
            return null;
        }

        return new TcpToTable(fd, layout, buffer, read, length);
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
