using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace QRemote.Daemon;

/// <summary>
/// The frames between a delivery process and <c>qremote-daemon</c> on the Unix socket (docs/daemon.md), version 2:
/// <list type="number">
/// <item>client: the request (<see cref="EncodeRequest"/>), with the message's file descriptor attached (SCM_RIGHTS);</item>
/// <item>daemon: <see cref="Accepted"/> once the request is whole, valid and its settings are the daemon's own, else
/// <see cref="Refused"/> (an unknown version, other settings: the process delivers by itself; never a report);</item>
/// <item>client: <see cref="Go"/> (only then does the daemon start: a client that gave up waiting has delivered by
/// itself, and the daemon must not deliver too);</item>
/// <item>daemon: <see cref="Alive"/> every <see cref="HeartbeatInterval"/>, so a stopped or hung daemon is seen;</item>
/// <item>daemon: <see cref="Committing"/> right before the message goes out; client: <see cref="Confirm"/>. Without the
/// confirmation the daemon sends nothing that counts; with it, the client reports an unknown outcome if the daemon is
/// then lost, never a plain retry (no duplicate from a client stopped in between);</item>
/// <item>daemon: <see cref="Report"/>, a length and the report's bytes, as qmail-rspawn reads them.</item>
/// </list>
/// </summary>
internal static class DaemonProtocol
{
    public const byte Accepted = (byte)'A';
    public const byte Refused = (byte)'N';
    public const byte Go = (byte)'G';
    public const byte Alive = (byte)'W';
    public const byte Committing = (byte)'D';
    public const byte Confirm = (byte)'C';
    public const byte Report = (byte)'R';

    /// <summary>A request is at most this big (argv of a hand-run delivery to many recipients fits).</summary>
    public const int MaxRequest = 1 << 20;

    /// <summary>How often the daemon says it is alive while it delivers.</summary>
    public static readonly TimeSpan HeartbeatInterval = TimeSpan.FromSeconds(5);

    /// <summary>Silence after which the client gives the daemon up: before the commit it delivers by itself (the daemon
    /// can send nothing without its confirmation); after it, the outcome is unknown (Z).</summary>
    public static readonly TimeSpan SilenceLimit = TimeSpan.FromSeconds(30);

    /// <summary>How long the daemon waits for <see cref="Confirm"/> before it abandons the delivery.</summary>
    public static readonly TimeSpan ConfirmLimit = TimeSpan.FromSeconds(5);

    private static ReadOnlySpan<byte> Magic => "QRD2"u8;

    private const int SettingCount = 4;

    /// <summary>Magic (with the version), the length of the rest, the start offset, then the four settings and each
    /// position, every one NUL-terminated UTF-8.</summary>
    public static byte[] EncodeRequest(DaemonRequest request)
    {
        var body = new MemoryStream();
        Span<byte> offset = stackalloc byte[8];
        BinaryPrimitives.WriteInt64BigEndian(offset, request.Start);
        body.Write(offset);
        var s = request.Settings;
        string[] settings = [s.QmailHome, s.ResolvConf, s.SmtpPort.ToString(CultureInfo.InvariantCulture), s.HttpsPort.ToString(CultureInfo.InvariantCulture)];
        foreach (var a in settings.Concat(request.Positions))
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

    /// <summary>The total frame length once its 8-byte head is in, or -1 if the head is not this version's.</summary>
    public static int FrameLength(ReadOnlySpan<byte> head)
    {
        if (head.Length < 8 || !head[..4].SequenceEqual(Magic))
        {
            return -1;
        }

        var rest = BinaryPrimitives.ReadInt32BigEndian(head[4..]);
        return rest is >= 8 and <= MaxRequest ? 8 + rest : -1;
    }

    /// <summary>The request, or null when it is not a whole, valid version-2 request: a NUL inside, bytes that are not
    /// UTF-8, settings that do not parse, fewer than three positions.</summary>
    public static DaemonRequest? DecodeRequest(ReadOnlySpan<byte> frame)
    {
        var length = FrameLength(frame);
        if (length < 0 || frame.Length != length)
        {
            return null;
        }

        var start = BinaryPrimitives.ReadInt64BigEndian(frame[8..]);
        var rest = frame[16..];
        var fields = new List<string>();
        var strict = new UTF8Encoding(false, throwOnInvalidBytes: true);
        while (!rest.IsEmpty)
        {
            var end = rest.IndexOf((byte)0);
            if (end < 0)
            {
                return null;
            }

            try
            {
                fields.Add(strict.GetString(rest[..end]));
            }
            catch (DecoderFallbackException)
            {
                return null;
            }

            rest = rest[(end + 1)..];
        }

        if (start < 0 || fields.Count < SettingCount + 3 || fields[0].Length == 0 || fields[1].Length == 0
            || !TryPort(fields[2], out var smtp) || !TryPort(fields[3], out var https))
        {
            return null;
        }

        return new DaemonRequest(start, new DaemonSettings(fields[0], fields[1], smtp, https), fields.Skip(SettingCount).ToArray());
    }

    public static byte[] EncodeReport(byte[] report)
    {
        var frame = new byte[5 + report.Length];
        frame[0] = Report;
        BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(1), report.Length);
        report.CopyTo(frame, 5);
        return frame;
    }

    /// <summary>A port as <see cref="EncodeRequest"/> writes it: no leading zero (a damaged "03188" is refused, not
    /// read as 3188).</summary>
    private static bool TryPort(string s, out int port)
    {
        port = 0;
        return s is [not '0', ..] && int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out port) && port is > 0 and < 65536;
    }
}
