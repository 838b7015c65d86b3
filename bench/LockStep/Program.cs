// The reference client of bench/rtt.sh: the dialogue netqmail 1.06's qmail-remote speaks, written from
// its documented behaviour (not from its source), every step awaited before the next:
//
//   DNS  ANY for each recipient domain (its canonicalization), then MX for the host, then A for each
//        exchanger; plain UDP, RD set, no EDNS, a 512-byte answer buffer; one question at a time.
//   SMTP connect, greeting, HELO, MAIL, each RCPT, DATA, the message (LF to CRLF, dot-stuffed), the
//        final dot and its reply; then QUIT, written and not awaited.
//
// It prints qmail-remote's report (r/h/s per recipient, then K/Z/D, each NUL-terminated). The same argv
// as qremote: [--qmail-home=DIR] [--resolv-conf=FILE] [--smtp-port=N] host sender recipient...
// A benchmark reference, not a mailer: no TLS, no IPv6 exchangers (netqmail has none), no CNAME rewriting,
// no tcpto, the message read whole. Its one kindness: TCP_NODELAY and the message and final dot in one
// write, so Nagle never adds a wait the dialogue itself does not have.
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace QRemote.Bench.LockStep;

internal static class Program
{
    private const ushort TypeA = 1;
    private const ushort TypeMx = 15;
    private const ushort TypeAny = 255;

    private static int Main(string[] args)
    {
        var stdout = Console.OpenStandardOutput();
        var output = new MemoryStream();
        try
        {
            Deliver(args, output);
        }
        catch (Exception e) when (e is DnsFailure)
        {
            Report(output, 'Z', e.Message);
        }

        stdout.Write(output.ToArray());
        stdout.Flush();
        return 0;
    }

    private static void Report(Stream output, char letter, string text)
    {
        output.WriteByte((byte)letter);
        output.Write(Encoding.UTF8.GetBytes(text));
        output.WriteByte(0);
    }

    private static void Deliver(string[] args, Stream output)
    {
        string home = "/var/qmail", resolvConf = "/etc/resolv.conf";
        var port = 25;
        var i = 0;
        for (; i < args.Length && args[i].StartsWith("--", StringComparison.Ordinal); i++)
        {
            var eq = args[i].IndexOf('=', StringComparison.Ordinal);
            var name = eq < 0 ? args[i] : args[i][..eq];
            var value = eq < 0 ? (i + 1 < args.Length ? args[++i] : "") : args[i][(eq + 1)..];
            switch (name)
            {
                case "--qmail-home": home = value; break;
                case "--resolv-conf": resolvConf = value; break;
                case "--smtp-port": port = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
                default: Report(output, 'Z', $"unknown option {name}\n"); return;
            }
        }

        if (args.Length - i < 3)
        {
            Report(output, 'D', "I (qmail-remote) was invoked improperly. (#5.3.5)\n");
            return;
        }

        var host = args[i];
        var sender = args[i + 1];
        var recipients = args[(i + 2)..];
        var helo = ReadControl(home, "helohost") ?? ReadControl(home, "me") ?? "lockstep";
        var nameserver = Nameserver(resolvConf);
        var message = Wire(ReadAll(Console.OpenStandardInput()));

        // ---- DNS, one question at a time ------------------------------------------------------
        List<IPAddress> addresses;
        if (host.StartsWith('[') && host.EndsWith(']') && IPAddress.TryParse(host[1..^1], out var literal))
        {
            addresses = [literal];
        }
        else
        {
            foreach (var domain in recipients.Select(r => r[(r.LastIndexOf('@') + 1)..]).Distinct(StringComparer.OrdinalIgnoreCase))
            {
                var any = Query(nameserver, domain, TypeAny);
                if (any.Rcode is not (0 or 3))
                {
                    throw new DnsFailure("CNAME lookup failed temporarily. (#4.4.3)\n");
                }
            }

            var mx = Query(nameserver, host, TypeMx);
            var exchangers = mx.Rcode == 0 ? mx.Records.Where(r => r.Type == TypeMx).Select(r => (r.Preference, r.Name!)).OrderBy(e => e.Preference).ToList() : [];
            if (mx.Rcode is not (0 or 3))
            {
                throw new DnsFailure("Sorry, I couldn't find any host by that name. (#4.1.2)\n");
            }

            if (exchangers.Count == 0)
            {
                exchangers.Add((0, host));
            }

            addresses = [];
            foreach (var (_, exchanger) in exchangers)
            {
                var a = Query(nameserver, exchanger, TypeA);
                if (a.Rcode is not (0 or 3))
                {
                    throw new DnsFailure("Sorry, I couldn't find any host by that name. (#4.1.2)\n");
                }

                addresses.AddRange(a.Records.Where(r => r.Type == TypeA).Select(r => r.Address!));
            }

            if (addresses.Count == 0)
            {
                Report(output, 'D', "Sorry, I couldn't find a mail exchanger or IP address. (#5.4.4)\n");
                return;
            }
        }

        // ---- SMTP, lock-step -------------------------------------------------------------------
        foreach (var ip in addresses)
        {
            Socket socket;
            try
            {
                socket = Connect(new IPEndPoint(ip, port));
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException)
            {
                continue;
            }

            using (socket)
            {
                Smtp(socket, ip, helo, sender, recipients, message, output);
            }

            return;
        }

        Report(output, 'Z', "Sorry, I wasn't able to establish an SMTP connection. (#4.4.1)\n");
    }

    private static Socket Connect(IPEndPoint endpoint)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, ReceiveTimeout = 1200_000 };
        try
        {
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            socket.ConnectAsync(endpoint, deadline.Token).AsTask().GetAwaiter().GetResult();
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static void Smtp(Socket socket, IPAddress ip, string helo, string sender, string[] recipients, byte[] message, Stream output)
    {
        var replies = new ReplyReader(socket);
        try
        {
            var (code, text) = replies.Read();
            if (code is < 200 or >= 300)
            {
                Report(output, 'Z', $"Connected to {ip} but greeting failed.\nRemote host said: {text}");
                return;
            }

            (code, text) = Command(socket, replies, $"HELO {helo}");
            if (code != 250)
            {
                Report(output, 'Z', $"Connected to {ip} but my name was rejected.\nRemote host said: {text}");
                Quit(socket);
                return;
            }

            (code, text) = Command(socket, replies, $"MAIL FROM:<{sender}>");
            if (code is < 200 or >= 300)
            {
                Report(output, code >= 500 ? 'D' : 'Z', $"Connected to {ip} but sender was rejected.\nRemote host said: {text}");
                Quit(socket);
                return;
            }

            var recipientReports = new List<(char Letter, string Text)>();
            foreach (var recipient in recipients)
            {
                (code, text) = Command(socket, replies, $"RCPT TO:<{recipient}>");
                recipientReports.Add(code is >= 200 and < 300 ? ('r', "")
                    : (code >= 500 ? 'h' : 's', $"{ip} does not like recipient.\nRemote host said: {text}"));
            }

            foreach (var (letter, reportText) in recipientReports)
            {
                Report(output, letter, reportText);
            }

            if (recipientReports.All(r => r.Letter != 'r'))
            {
                Report(output, 'D', $"Giving up on {ip}.\n");
                Quit(socket);
                return;
            }

            (code, text) = Command(socket, replies, "DATA");
            if (code != 354)
            {
                Report(output, code >= 500 ? 'D' : 'Z', $"Failed on DATA command.\nRemote host said: {text}");
                Quit(socket);
                return;
            }

            socket.Send(message);
            (code, text) = replies.Read();
            Report(output, code is >= 200 and < 300 ? 'K' : code >= 500 ? 'D' : 'Z',
                (code is >= 200 and < 300 ? $"{ip} accepted message.\n" : $"Failed after I sent the message.\n") + $"Remote host said: {text}");
            Quit(socket);
        }
        catch (Exception e) when (e is SocketException or IOException)
        {
            Report(output, 'Z', $"Connected to {ip} but connection died. (#4.4.2)\n");
        }
    }

    private static (int Code, string Text) Command(Socket socket, ReplyReader replies, string command)
    {
        socket.Send(Encoding.UTF8.GetBytes(command + "\r\n"));
        return replies.Read();
    }

    /// <summary>QUIT, written and not awaited.</summary>
    private static void Quit(Socket socket)
    {
        try
        {
            socket.Send("QUIT\r\n"u8);
        }
        catch (SocketException)
        {
        }
    }

    /// <summary>The message in SMTP form: each LF a CRLF, a dot at a line's start doubled, then ".\r\n".</summary>
    private static byte[] Wire(byte[] message)
    {
        var wire = new MemoryStream(message.Length + (message.Length / 32) + 8);
        var lineStart = true;
        foreach (var b in message)
        {
            if (lineStart && b == (byte)'.')
            {
                wire.WriteByte((byte)'.');
            }

            if (b == (byte)'\n')
            {
                wire.WriteByte((byte)'\r');
            }

            wire.WriteByte(b);
            lineStart = b == (byte)'\n';
        }

        if (!lineStart)
        {
            wire.Write("\r\n"u8);
        }

        wire.Write(".\r\n"u8);
        return wire.ToArray();
    }

    private static byte[] ReadAll(Stream input)
    {
        var all = new MemoryStream();
        input.CopyTo(all);
        return all.ToArray();
    }

    private static string? ReadControl(string home, string name)
    {
        try
        {
            var line = File.ReadLines(Path.Combine(home, "control", name)).FirstOrDefault()?.Trim();
            return string.IsNullOrEmpty(line) ? null : line;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The first nameserver of a resolv.conf: <c>1.2.3.4</c>, <c>1.2.3.4#port</c> or <c>[addr]:port</c>.</summary>
    private static IPEndPoint Nameserver(string path)
    {
        foreach (var line in File.Exists(path) ? File.ReadLines(path) : [])
        {
            var fields = line.Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 2 || fields[0] != "nameserver")
            {
                continue;
            }

            var value = fields[1];
            var port = 53;
            if (value.StartsWith('[') && value.IndexOf("]:", StringComparison.Ordinal) is var close and > 0)
            {
                port = int.Parse(value[(close + 2)..], System.Globalization.CultureInfo.InvariantCulture);
                value = value[1..close];
            }
            else if (value.IndexOf('#', StringComparison.Ordinal) is var hash and > 0)
            {
                port = int.Parse(value[(hash + 1)..], System.Globalization.CultureInfo.InvariantCulture);
                value = value[..hash];
            }

            return new IPEndPoint(IPAddress.Parse(value.Trim('[', ']')), port);
        }

        return new IPEndPoint(IPAddress.Loopback, 53);
    }

    // ---- DNS: one question over UDP, at most 512 bytes of answer --------------------------------------

    private sealed record DnsRecord(ushort Type, ushort Preference, string? Name, IPAddress? Address);

    private sealed record DnsResult(int Rcode, List<DnsRecord> Records);

    private sealed class DnsFailure(string message) : Exception(message);

    private static DnsResult Query(IPEndPoint server, string name, ushort type)
    {
        var id = (ushort)Random.Shared.Next(65536);
        var query = new MemoryStream();
        Span<byte> header = stackalloc byte[12];
        BinaryPrimitives.WriteUInt16BigEndian(header, id);
        BinaryPrimitives.WriteUInt16BigEndian(header[2..], 0x0100); // RD
        BinaryPrimitives.WriteUInt16BigEndian(header[4..], 1);
        query.Write(header);
        foreach (var label in name.TrimEnd('.').Split('.'))
        {
            query.WriteByte((byte)label.Length);
            query.Write(Encoding.ASCII.GetBytes(label));
        }

        query.Write([0, (byte)(type >> 8), (byte)type, 0, 1]);
        var packet = query.ToArray();
        using var udp = new Socket(server.AddressFamily, SocketType.Dgram, ProtocolType.Udp) { ReceiveTimeout = 5000 };
        udp.Connect(server);
        var answer = new byte[512];
        for (var attempt = 0; attempt < 2; attempt++)
        {
            udp.Send(packet);
            try
            {
                while (true)
                {
                    var n = udp.Receive(answer);
                    if (n >= 12 && BinaryPrimitives.ReadUInt16BigEndian(answer) == id)
                    {
                        return Parse(answer.AsSpan(0, n).ToArray());
                    }
                }
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.TimedOut)
            {
            }
        }

        throw new DnsFailure("Sorry, I couldn't find any host by that name. (#4.1.2)\n");
    }

    private static DnsResult Parse(byte[] m)
    {
        var flags = BinaryPrimitives.ReadUInt16BigEndian(m.AsSpan(2));
        if ((flags & 0x0200) != 0)
        {
            // netqmail's resolver would retry over TCP; the bench's zone keeps every answer small.
            throw new DnsFailure("CNAME lookup failed temporarily. (#4.4.3)\n");
        }

        var questions = BinaryPrimitives.ReadUInt16BigEndian(m.AsSpan(4));
        var answers = BinaryPrimitives.ReadUInt16BigEndian(m.AsSpan(6));
        var pos = 12;
        for (var q = 0; q < questions; q++)
        {
            ReadName(m, ref pos);
            pos += 4;
        }

        var records = new List<DnsRecord>();
        for (var a = 0; a < answers; a++)
        {
            ReadName(m, ref pos);
            var type = BinaryPrimitives.ReadUInt16BigEndian(m.AsSpan(pos));
            var length = BinaryPrimitives.ReadUInt16BigEndian(m.AsSpan(pos + 8));
            var data = pos + 10;
            if (type == TypeA && length == 4)
            {
                records.Add(new DnsRecord(type, 0, null, new IPAddress(m.AsSpan(data, 4))));
            }
            else if (type == TypeMx)
            {
                var namePos = data + 2;
                records.Add(new DnsRecord(type, BinaryPrimitives.ReadUInt16BigEndian(m.AsSpan(data)), ReadName(m, ref namePos), null));
            }

            pos = data + length;
        }

        return new DnsResult(flags & 0xf, records);
    }

    private static string ReadName(byte[] m, ref int pos)
    {
        var labels = new List<string>();
        var at = pos;
        var jumped = false;
        for (var hops = 0; hops < 64; hops++)
        {
            var length = m[at];
            if (length == 0)
            {
                if (!jumped)
                {
                    pos = at + 1;
                }

                return string.Join('.', labels);
            }

            if ((length & 0xc0) == 0xc0)
            {
                if (!jumped)
                {
                    pos = at + 2;
                }

                jumped = true;
                at = ((length & 0x3f) << 8) | m[at + 1];
                continue;
            }

            labels.Add(Encoding.ASCII.GetString(m, at + 1, length));
            at += 1 + length;
        }

        throw new DnsFailure("Sorry, I couldn't find any host by that name. (#4.1.2)\n");
    }

    /// <summary>Reads SMTP replies: lines up to LF; a reply ends at a line whose fourth byte is not '-'.</summary>
    private sealed class ReplyReader(Socket socket)
    {
        private readonly byte[] _buffer = new byte[4096];
        private int _start;
        private int _end;

        public (int Code, string Text) Read()
        {
            var text = new StringBuilder();
            while (true)
            {
                var line = ReadLine();
                text.Append(line).Append('\n');
                if (line.Length < 4 || line[3] != '-')
                {
                    var code = line.Length >= 3 && int.TryParse(line.AsSpan(0, 3), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var c) ? c : 0;
                    return (code, text.ToString());
                }
            }
        }

        private string ReadLine()
        {
            var line = new MemoryStream();
            while (true)
            {
                if (_start == _end)
                {
                    _start = 0;
                    _end = socket.Receive(_buffer);
                    if (_end == 0)
                    {
                        throw new IOException("connection closed");
                    }
                }

                var newline = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
                if (newline < 0)
                {
                    line.Write(_buffer, _start, _end - _start);
                    _start = _end;
                    continue;
                }

                line.Write(_buffer, _start, newline - _start);
                _start = newline + 1;
                return Encoding.UTF8.GetString(line.ToArray()).TrimEnd('\r');
            }
        }
    }
}
