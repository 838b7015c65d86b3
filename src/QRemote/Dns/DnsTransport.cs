using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using ARSoft.Tools.Net;
using ARSoft.Tools.Net.Dns;

namespace QRemote.Dns;

/// <summary>
/// The wire half of the stub resolver: one query to one server, UDP first, TCP when the answer is
/// truncated, every wait bounded by the caller's token. ARSoft.Tools.Net's <see cref="DnsMessage.Parse"/>
/// reads the answers; its client is not used, because measured it: builds a default client in a
/// static constructor (two rounds of interface enumeration and a resolv.conf read per process,
/// about 5 ms of every delivery), loses a reply on its pooled TCP connection (2 s stalls), parses a
/// short UDP answer against zero padding (a cut A record read as 1.0.0.0), and matches TCP replies
/// case-sensitively. Here a datagram is parsed at its exact length, so a short one is malformed,
/// a temporary failure.
/// </summary>
internal static class DnsTransport
{
    /// <summary>EDNS0 UDP payload size (DNS flag day 2020).</summary>
    public const ushort UdpPayload = 1232;

    /// <summary>A query for <paramref name="name"/>/<paramref name="type"/>: RD set, EDNS0 with the DO bit.</summary>
    public static byte[] EncodeQuery(ushort id, DomainName name, RecordType type)
    {
        var buffer = new List<byte>(64);
        void U16(int v)
        {
            buffer.Add((byte)(v >> 8));
            buffer.Add((byte)v);
        }

        U16(id);
        U16(0x0100); // RD
        U16(1); // QDCOUNT
        U16(0);
        U16(0);
        U16(1); // ARCOUNT: OPT
        foreach (var label in name.Labels)
        {
            var bytes = Encoding.ASCII.GetBytes(label);
            buffer.Add((byte)bytes.Length);
            buffer.AddRange(bytes);
        }

        buffer.Add(0);
        U16((int)type);
        U16(1); // IN
        // OPT pseudo-record: root name, type 41, CLASS = payload size, TTL = extended RCODE 0, version 0, DO.
        buffer.Add(0);
        U16(41);
        U16(UdpPayload);
        U16(0);
        U16(0x8000);
        U16(0);
        return [.. buffer];
    }

    /// <summary>A transaction ID nobody off-path can guess (the Kaminsky attack): from the OS's CSPRNG.</summary>
    public static ushort NewId() => Entropy.NextUInt16();

    /// <summary>The answer from <paramref name="server"/>, or null for silence, a broken connection, or an
    /// answer that is malformed or is not for our question.</summary>
    public static async Task<DnsMessage?> QueryAsync(IPEndPoint server, DomainName name, RecordType type, CancellationToken cancellationToken)
    {
        var id = NewId();
        var query = EncodeQuery(id, name, type);
        var answer = await UdpAsync(server, query, id, name, type, cancellationToken).ConfigureAwait(false);
        if (answer is { IsTruncated: true })
        {
            answer = await TcpAsync(server, query, id, name, type, cancellationToken).ConfigureAwait(false);
        }

        return answer;
    }

    private static async Task<DnsMessage?> UdpAsync(IPEndPoint server, byte[] query, ushort id, DomainName name, RecordType type, CancellationToken cancellationToken)
    {
        using var socket = new Socket(server.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            // Connected: the kernel drops datagrams from any other address or port.
            await socket.ConnectAsync(server, cancellationToken).ConfigureAwait(false);
            await socket.SendAsync(query, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            // Room for the largest datagram (EDNS0 lets an answer be up to 65535 bytes), from the shared pool: it hands
            // out arrays the GC has not zeroed, and a new byte[65535] for each query was zeroed and page-faulted
            // whole, a third of all memset(3) in an MX delivery (perf), for answers of a few hundred bytes. Only the
            // n bytes received are read, and they are copied out before the array goes back.
            var buffer = ArrayPool<byte>.Shared.Rent(65535);
            try
            {
                while (true)
                {
                    var n = await socket.ReceiveAsync(buffer.AsMemory(0, 65535), SocketFlags.None, cancellationToken).ConfigureAwait(false);
                    if (n >= 2 && BinaryPrimitives.ReadUInt16BigEndian(buffer) == id)
                    {
                        return Parse(buffer.AsSpan(0, n).ToArray(), name, type);
                    }

                    // Another ID: a stray or spoofed datagram; keep waiting within the deadline.
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
        catch (SocketException)
        {
            return null;
        }
    }

    private static async Task<DnsMessage?> TcpAsync(IPEndPoint server, byte[] query, ushort id, DomainName name, RecordType type, CancellationToken cancellationToken)
    {
        using var socket = new Socket(server.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(server, cancellationToken).ConfigureAwait(false);
            var framed = new byte[query.Length + 2];
            BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)query.Length);
            query.CopyTo(framed, 2);
            await socket.SendAsync(framed, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            var length = new byte[2];
            if (!await ReadExactlyAsync(socket, length, cancellationToken).ConfigureAwait(false))
            {
                return null;
            }

            var message = new byte[BinaryPrimitives.ReadUInt16BigEndian(length)];
            if (!await ReadExactlyAsync(socket, message, cancellationToken).ConfigureAwait(false))
            {
                return null;
            }

            return message.Length >= 2 && BinaryPrimitives.ReadUInt16BigEndian(message) == id ? Parse(message, name, type) : null;
        }
        catch (SocketException)
        {
            return null;
        }
    }

    private static async Task<bool> ReadExactlyAsync(Socket socket, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (!buffer.IsEmpty)
        {
            var n = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                return false;
            }

            buffer = buffer[n..];
        }

        return true;
    }

    /// <summary>ARSoft's parser on exactly the bytes received; a message it cannot read, or one that answers
    /// another question, is null.</summary>
    public static DnsMessage? Parse(byte[] bytes, DomainName name, RecordType type)
    {
        DnsMessage message;
        try
        {
            message = DnsMessage.Parse(new ArraySegment<byte>(bytes));
        }
#pragma warning disable CA1031 // ARSoft's parser throws many types on hostile input; all mean "malformed".
        catch (Exception)
        {
            return null;
        }
#pragma warning restore CA1031

        return !message.IsQuery
            && message.Questions.Count == 1
            && message.Questions[0].Name.Equals(name)
            && message.Questions[0].RecordType == type
                ? message
                : null;
    }
}
