using System.Buffers.Binary;
using System.Text;

namespace QRemote.Daemon;

/// <summary>
/// The few frames between a delivery process and <c>qremote --daemon</c> on the Unix socket (docs/daemon.md):
/// <list type="number">
/// <item>client: the request (<see cref="EncodeRequest"/>), with the message's file descriptor attached (SCM_RIGHTS);</item>
/// <item>daemon: <see cref="Accepted"/>; client: <see cref="Go"/> (only then does the daemon start: a client that
/// gave up waiting has delivered by itself, and the daemon must not deliver too);</item>
/// <item>daemon: <see cref="Committing"/> right before the message goes out (until then a client left without an
/// answer delivers by itself; after it, the outcome is unknown: Z);</item>
/// <item>daemon: <see cref="Report"/>, a length and the report's bytes, as qmail-rspawn reads them.</item>
/// </list>
/// </summary>
public static class DaemonProtocol
{
    public const byte Accepted = (byte)'A';
    public const byte Go = (byte)'G';
    public const byte Committing = (byte)'D';
    public const byte Report = (byte)'R';

    /// <summary>A request is at most this big (argv of a hand-run delivery to many recipients fits).</summary>
    public const int MaxRequest = 1 << 20;

    private static ReadOnlySpan<byte> Magic => "QRD1"u8;

    /// <summary>Magic, the length of the rest, the message's start offset, then each argument NUL-terminated.</summary>
    public static byte[] EncodeRequest(long start, IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var body = new MemoryStream();
        Span<byte> offset = stackalloc byte[8];
        BinaryPrimitives.WriteInt64BigEndian(offset, start);
        body.Write(offset);
        foreach (var a in args)
        {
            body.Write(Encoding.UTF8.GetBytes(a));
            body.WriteByte(0);
        }

        var frame = new byte[8 + body.Length];
        Magic.CopyTo(frame);
        BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(4), (int)body.Length);
        body.ToArray().CopyTo(frame, 8);
        return frame;
    }

    /// <summary>The total frame length once its 8-byte head is in, or -1 if the head is not ours.</summary>
    public static int FrameLength(ReadOnlySpan<byte> head)
    {
        if (head.Length < 8 || !head[..4].SequenceEqual(Magic))
        {
            return -1;
        }

        var rest = BinaryPrimitives.ReadInt32BigEndian(head[4..]);
        return rest is >= 8 and <= MaxRequest ? 8 + rest : -1;
    }

    public static (long Start, IReadOnlyList<string> Args)? DecodeRequest(ReadOnlySpan<byte> frame)
    {
        var length = FrameLength(frame);
        if (length < 0 || frame.Length != length)
        {
            return null;
        }

        var start = BinaryPrimitives.ReadInt64BigEndian(frame[8..]);
        var rest = frame[16..];
        var args = new List<string>();
        while (!rest.IsEmpty)
        {
            var end = rest.IndexOf((byte)0);
            if (end < 0)
            {
                return null;
            }

            args.Add(Encoding.UTF8.GetString(rest[..end]));
            rest = rest[(end + 1)..];
        }

        return start < 0 ? null : (start, args);
    }

    public static byte[] EncodeReport(byte[] report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var frame = new byte[5 + report.Length];
        frame[0] = Report;
        BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(1), report.Length);
        report.CopyTo(frame, 5);
        return frame;
    }
}
