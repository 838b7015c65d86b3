using System.Buffers;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using QRemote.Posix;

namespace QRemote.Message;

/// <summary>
/// The message on stdin, read once and replayable. Under qmail-rspawn stdin is the queue file
/// itself, a regular seekable file, and is streamed from where it stands. From a pipe (a person
/// typing, a script) it is spooled to an unlinked temporary file under <c>$TMPDIR</c>, never the
/// working directory: under qmail that is the queue, which qmailr cannot write. The spool never has a
/// name while the message is in it (O_TMPFILE; else it is unlinked the moment it is created), so a
/// crash or a kill in the middle leaves nothing behind.
/// </summary>
internal sealed class MessageSource : IAsyncDisposable
{
    private const int BufferSize = 64 * 1024;
    private readonly Stream _stream;
    private readonly long _start;

    private MessageSource(Stream stream, long start, MessageFacts facts)
    {
        _stream = stream;
        _start = start;
        Facts = facts;
    }

    public MessageFacts Facts { get; }

    /// <summary>Opens standard input (file descriptor 0) without taking ownership of it.</summary>
    public static Task<MessageSource> OpenStandardInputAsync(string? temporaryDirectory, CancellationToken cancellationToken)
    {
        var handle = new SafeFileHandle(0, ownsHandle: false);
        Stream stdin;
        try
        {
            stdin = new FileStream(handle, FileAccess.Read, bufferSize: 0);
        }
        catch (ArgumentException)
        {
            // Not a file descriptor FileStream accepts (a socket, say): read it as a plain stream.
            stdin = Console.OpenStandardInput();
        }
        catch (IOException)
        {
            stdin = Console.OpenStandardInput();
        }

        return OpenAsync(stdin, temporaryDirectory, cancellationToken);
    }

    /// <summary>Takes ownership of <paramref name="input"/>; spools it first when it cannot seek.</summary>
    public static async Task<MessageSource> OpenAsync(Stream input, string? temporaryDirectory, CancellationToken cancellationToken)
    {
        Stream stream = input;
        long start;
        if (IsSeekable(input))
        {
            start = input.Position;
        }
        else
        {
            stream = await SpoolAsync(input, temporaryDirectory, cancellationToken).ConfigureAwait(false);
            await input.DisposeAsync().ConfigureAwait(false);
            start = 0;
        }

        var facts = await ScanAsync(stream, start, cancellationToken).ConfigureAwait(false);
        return new MessageSource(stream, start, facts);
    }

    /// <summary>Writes the message in wire form (CRLF line endings; dot-stuffed if asked) to <paramref name="destination"/>;
    /// returns the bytes written.</summary>
    public async Task<long> WriteWireFormAsync(Stream destination, bool dotStuff, CancellationToken cancellationToken)
    {
        _stream.Seek(_start, SeekOrigin.Begin);
        var encoder = new WireEncoder(dotStuff);
        var chunk = ChunkSize(Facts.Length);
        var input = ArrayPool<byte>.Shared.Rent(chunk);
        var output = ArrayPool<byte>.Shared.Rent(WireEncoder.MaxOutputLength(chunk));
        long written = 0;
        try
        {
            int read;
            while ((read = await ReadAsync(_stream, input, chunk, cancellationToken).ConfigureAwait(false)) > 0)
            {
                var n = encoder.Encode(input.AsSpan(0, read), output);
                await destination.WriteAsync(output.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
                written += n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(input);
            ArrayPool<byte>.Shared.Return(output);
        }

        return written;
    }

    public ValueTask DisposeAsync() => _stream.DisposeAsync();

    private static bool IsSeekable(Stream input)
    {
        try
        {
            return input.CanSeek && input.Length >= 0 && input.Position >= 0;
        }
        catch (IOException)
        {
            return false;
        }
        catch (NotSupportedException)
        {
            return false;
        }
    }

    private static async Task<Stream> SpoolAsync(Stream input, string? temporaryDirectory, CancellationToken cancellationToken)
    {
        var directory = string.IsNullOrEmpty(temporaryDirectory) ? "/tmp" : temporaryDirectory;
        var spool = OpenUnnamed(directory);
        try
        {
            await input.CopyToAsync(spool, BufferSize, cancellationToken).ConfigureAwait(false);
            await spool.FlushAsync(cancellationToken).ConfigureAwait(false);
            return spool;
        }
        catch
        {
            await spool.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// A read-write file in <paramref name="directory"/> that has no name: O_TMPFILE (with O_EXCL, so it can never be
    /// linked in later), or, where the kernel or the file system has no O_TMPFILE, a new file unlinked at once. Either
    /// way a crash or a kill leaves nothing in <c>$TMPDIR</c>. Throws <see cref="IOException"/> when neither works.
    /// </summary>
    private static FileStream OpenUnnamed(string directory)
    {
        var fd = Libc.Open(directory, Libc.OTmpfile | Libc.ORdwr | Libc.OExcl | Libc.OCloexec, Libc.Mode0600);
        if (fd >= 0)
        {
            return new FileStream(new SafeFileHandle(fd, ownsHandle: true), FileAccess.ReadWrite, bufferSize: 0);
        }

        var errno = Marshal.GetLastPInvokeError();
        // EOPNOTSUPP (a file system without it), EISDIR and EINVAL (a kernel before 3.11): the named way, unlinked at once.
        if (errno is not (Eopnotsupp or Eisdir or Einval))
        {
            throw new IOException($"cannot create a temporary file in {directory}: {Marshal.GetPInvokeErrorMessage(errno)}");
        }

        var path = Path.Combine(directory, $"qremote.{Environment.ProcessId}.{Guid.NewGuid():N}");
        var spool = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.ReadWrite,
            Share = FileShare.None,
            BufferSize = 0,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        });
        try
        {
            File.Delete(path);
        }
        catch
        {
            spool.Dispose();
            throw;
        }

        return spool;
    }

    /// <summary>One read of the message. A file's (the queue file, or the spool: <see cref="_stream"/> is always one, so is
    /// what <see cref="ScanAsync"/> reads) is a plain read(2): FileStream's ReadAsync on a descriptor not opened for
    /// asynchronous I/O hands a blocking read to the thread pool, which a delivery process otherwise never starts
    /// (<see cref="Delivery.DeliveryThreads"/>), and a read of a regular file does not wait on anything that a
    /// cancellation could cut short anyway.</summary>
    private static ValueTask<int> ReadAsync(Stream stream, byte[] buffer, int count, CancellationToken cancellationToken) =>
        stream is FileStream
            ? ValueTask.FromResult(stream.Read(buffer, 0, count))
            : stream.ReadAsync(buffer.AsMemory(0, count), cancellationToken);

    /// <summary>How much to read at a time for a message of <paramref name="length"/> bytes: all of it, when that is under
    /// <see cref="BufferSize"/>. A delivery's message is usually a few KB, and the encoder's output buffer is twice the
    /// chunk, so 64 KB chunks made every small message take 192 KB of new heap (the 128 KB one on the large-object
    /// heap), cleared and page-faulted in every process (docs/performance.md). The file may still grow or shrink: the
    /// loops read until end of file whatever the size, so the chunk only decides how many reads that takes.</summary>
    private static int ChunkSize(long length) => (int)Math.Clamp(length, 512, BufferSize);

    private const int Eisdir = 21;
    private const int Einval = 22;
    private const int Eopnotsupp = 95;

    private static async Task<MessageFacts> ScanAsync(Stream stream, long start, CancellationToken cancellationToken)
    {
        stream.Seek(start, SeekOrigin.Begin);
        var size = ChunkSize(stream.Length - start);
        var buffer = ArrayPool<byte>.Shared.Rent(size);
        var scratch = ArrayPool<byte>.Shared.Rent(WireEncoder.MaxOutputLength(size));
        try
        {
            var encoder = new WireEncoder(dotStuff: false);
            long length = 0, wire = 0;
            var eightBit = false;
            var tlsRequiredNo = false;
            var requireTls = false;
            var last = (byte)'\n';
            int read;
            while ((read = await ReadAsync(stream, buffer, size, cancellationToken).ConfigureAwait(false)) > 0)
            {
                var chunk = buffer.AsSpan(0, read);
                if (length == 0)
                {
                    tlsRequiredNo = HeaderScan.TlsRequiredNo(chunk);
                    requireTls = HeaderScan.RequireTlsEsmtp(chunk);
                }

                length += read;
                last = chunk[^1];
                eightBit = eightBit || chunk.IndexOfAnyInRange((byte)0x80, (byte)0xff) >= 0;
                wire += encoder.Encode(chunk, scratch);
            }

            return new MessageFacts(length, wire, last == (byte)'\n', eightBit, tlsRequiredNo, requireTls);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }
}
