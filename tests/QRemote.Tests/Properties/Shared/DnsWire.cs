using System.Net;
using ARSoft.Tools.Net.Dns;

namespace QRemote.Tests.Properties;

/// <summary>Writes DNS messages byte by byte (RFC 1035 4.1), with name compression, so that the bytes
/// fed to <see cref="DnsMessage.Parse"/> are exactly the ones a test chose, pointers and all.</summary>
public sealed class DnsWriter
{
    private readonly List<byte> _bytes = [];
    private readonly Dictionary<string, int> _suffixes = new(StringComparer.Ordinal);

    public bool Compress { get; init; } = true;

    public int Length => _bytes.Count;

    public byte[] ToArray() => [.. _bytes];

    public void U8(int value) => _bytes.Add((byte)value);

    public void U16(int value)
    {
        _bytes.Add((byte)(value >> 8));
        _bytes.Add((byte)value);
    }

    public void U32(uint value)
    {
        U16((int)(value >> 16));
        U16((int)(value & 0xffff));
    }

    public void Raw(ReadOnlySpan<byte> bytes)
    {
        foreach (var b in bytes)
        {
            _bytes.Add(b);
        }
    }

    public void Patch16(int position, int value)
    {
        _bytes[position] = (byte)(value >> 8);
        _bytes[position + 1] = (byte)value;
    }

    /// <summary>Header: <paramref name="flags"/> holds QR, opcode, AA, TC, RD, RA, AD, CD and the RCODE.</summary>
    public void Header(int id, int flags, int questions, int answers, int authority, int additional)
    {
        U16(id);
        U16(flags);
        U16(questions);
        U16(answers);
        U16(authority);
        U16(additional);
    }

    /// <summary>A name from its labels; each char is one byte (Latin-1), as ARSoft reads labels.</summary>
    public void Name(IReadOnlyList<string> labels)
    {
        for (var i = 0; i < labels.Count; i++)
        {
            var suffix = string.Join("\0", labels.Skip(i)).ToLowerInvariant();
            if (Compress && _suffixes.TryGetValue(suffix, out var offset))
            {
                U16(0xc000 | offset);
                return;
            }

            if (_bytes.Count < 0x3fff)
            {
                _suffixes[suffix] = _bytes.Count;
            }

            var label = labels[i];
            U8(Math.Min(label.Length, 63));
            foreach (var c in label.AsSpan(0, Math.Min(label.Length, 63)))
            {
                U8(c);
            }
        }

        U8(0);
    }

    public void Name(string dotted) => Name(Labels(dotted));

    public static string[] Labels(string dotted) => dotted.TrimEnd('.').Split('.', StringSplitOptions.RemoveEmptyEntries);

    public void Question(IReadOnlyList<string> name, int type)
    {
        Name(name);
        U16(type);
        U16(1);
    }

    /// <summary>Owner, type, class IN, TTL and a placeholder RDLENGTH; <see cref="EndRecord"/> fills it in.</summary>
    public int BeginRecord(IReadOnlyList<string> owner, int type, uint ttl = 300)
    {
        Name(owner);
        U16(type);
        U16(1);
        U32(ttl);
        var at = _bytes.Count;
        U16(0);
        return at;
    }

    public void EndRecord(int rdlengthAt) => Patch16(rdlengthAt, _bytes.Count - rdlengthAt - 2);

    public void Mx(IReadOnlyList<string> owner, int preference, IReadOnlyList<string> exchange)
    {
        var at = BeginRecord(owner, (int)RecordType.Mx);
        U16(preference);
        Name(exchange);
        EndRecord(at);
    }

    public void CName(IReadOnlyList<string> owner, IReadOnlyList<string> target)
    {
        var at = BeginRecord(owner, (int)RecordType.CName);
        Name(target);
        EndRecord(at);
    }

    public void Address(IReadOnlyList<string> owner, IPAddress address)
    {
        var at = BeginRecord(owner, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? (int)RecordType.A : (int)RecordType.Aaaa);
        Raw(address.GetAddressBytes());
        EndRecord(at);
    }

    public void Soa(IReadOnlyList<string> owner)
    {
        var at = BeginRecord(owner, (int)RecordType.Soa);
        Name(["ns", .. owner]);
        Name(["hostmaster", .. owner]);
        U32(2024010101);
        U32(3600);
        U32(600);
        U32(86400);
        U32(300);
        EndRecord(at);
    }

    /// <summary>EDNS0 OPT pseudo-record (RFC 6891) with the DO bit.</summary>
    public void Opt(int payload = 1232)
    {
        U8(0);
        U16((int)RecordType.Opt);
        U16(payload);
        U32(0x8000);
        U16(0);
    }
}

/// <summary>The hand-built answers the DNS properties start from (before mutation).</summary>
public enum DnsTemplate
{
    /// <summary>MX records at random preferences, with A/AAAA for some exchangers in the additional section.</summary>
    Mx,
    /// <summary>The asked name is a CNAME chain (1..4 links) ending in MX records, all in the answer.</summary>
    MxBehindCnameChain,
    /// <summary>A CNAME whose target is not in the answer (the resolver asks again).</summary>
    CnameLeavesAnswer,
    /// <summary>A CNAME loop inside one answer.</summary>
    CnameLoop,
    /// <summary>RFC 7505 null MX, alone or next to real MX records.</summary>
    NullMx,
    /// <summary>The same exchanger at several preferences and in several spellings.</summary>
    RepeatedExchanger,
    /// <summary>A and AAAA records for the asked name (some of them this host's addresses).</summary>
    Addresses,
    /// <summary>A CNAME to a name whose A and AAAA records follow.</summary>
    CnameToAddresses,
    /// <summary>NOERROR with an empty answer and the SOA in the authority section.</summary>
    NoData,
    /// <summary>NXDOMAIN with the SOA in the authority section.</summary>
    NxDomain,
    /// <summary>SERVFAIL, REFUSED or another failure code.</summary>
    ServerFailure,
    /// <summary>TC set, the message cut short.</summary>
    Truncated,
}

/// <summary>Renders a <see cref="DnsTemplate"/> for one question; every choice inside comes from a seed.</summary>
public static class DnsTemplates
{
    public const int QR = 0x8000;
    public const int AA = 0x0400;
    public const int TC = 0x0200;
    public const int RD = 0x0100;
    public const int RA = 0x0080;
    public const int AD = 0x0020;

    private static readonly IPAddress[] V4 =
    [
        IPAddress.Parse("192.0.2.1"), IPAddress.Parse("192.0.2.2"), IPAddress.Parse("198.51.100.7"), IPAddress.Parse("203.0.113.250"),
        IPAddress.Loopback, IPAddress.Any, IPAddress.Broadcast, IPAddress.Parse("127.0.0.2"),
    ];

    private static readonly IPAddress[] V6 =
    [
        IPAddress.Parse("2001:db8::1"), IPAddress.Parse("2001:db8::25"), IPAddress.IPv6Loopback, IPAddress.IPv6Any,
        IPAddress.Parse("::ffff:127.0.0.1"), IPAddress.Parse("fe80::1"),
    ];

    public static byte[] Render(DnsTemplate template, int seed, IReadOnlyList<string> qname, RecordType qtype)
    {
        var random = new Random(seed);
        var w = new DnsWriter { Compress = random.Next(4) != 0 };
        var baseFlags = QR | RD | RA | (random.Next(3) == 0 ? AA : 0) | (random.Next(3) == 0 ? AD : 0);
        var id = random.Next(65536);
        var q = qname.ToArray();
        switch (template)
        {
            case DnsTemplate.Mx:
            {
                var exchangers = Enumerable.Range(0, random.Next(1, 6)).Select(_ => (Preference: Preference(random), Name: Exchanger(random, q))).ToList();
                var extra = exchangers.Where(_ => random.Next(2) == 0).SelectMany(e => Addresses(random, e.Name)).ToList();
                w.Header(id, baseFlags, 1, exchangers.Count, 0, extra.Count + 1);
                w.Question(q, (int)qtype);
                foreach (var (preference, name) in exchangers)
                {
                    w.Mx(q, preference, name);
                }

                foreach (var (owner, address) in extra)
                {
                    w.Address(owner, address);
                }

                w.Opt();
                break;
            }

            case DnsTemplate.MxBehindCnameChain:
            {
                var links = random.Next(1, 5);
                var chain = Enumerable.Range(0, links).Select(i => (string[])[$"alias{i}", .. q]).Prepend(q).ToList();
                var exchangers = random.Next(1, 4);
                w.Header(id, baseFlags, 1, links + exchangers, 0, 0);
                w.Question(q, (int)qtype);
                for (var i = 0; i < links; i++)
                {
                    w.CName(chain[i], chain[i + 1]);
                }

                for (var i = 0; i < exchangers; i++)
                {
                    if (qtype == RecordType.Mx || random.Next(2) == 0)
                    {
                        w.Mx(chain[^1], Preference(random), Exchanger(random, q));
                    }
                    else
                    {
                        w.Address(chain[^1], Pick(random, qtype == RecordType.Aaaa ? V6 : V4));
                    }
                }

                break;
            }

            case DnsTemplate.CnameLeavesAnswer:
                w.Header(id, baseFlags, 1, 1, 0, 0);
                w.Question(q, (int)qtype);
                w.CName(q, [$"elsewhere{random.Next(3)}", "other", "test"]);
                break;

            case DnsTemplate.CnameLoop:
            {
                string[] a = ["loop-a", .. q];
                string[] b = ["loop-b", .. q];
                w.Header(id, baseFlags, 1, 3, 0, 0);
                w.Question(q, (int)qtype);
                w.CName(q, a);
                w.CName(a, b);
                w.CName(b, random.Next(2) == 0 ? a : q);
                break;
            }

            case DnsTemplate.NullMx:
            {
                var real = random.Next(3) == 0 ? random.Next(1, 3) : 0;
                w.Header(id, baseFlags, 1, 1 + real, 0, 0);
                w.Question(q, (int)qtype);
                w.Mx(q, 0, []);
                for (var i = 0; i < real; i++)
                {
                    w.Mx(q, Preference(random), Exchanger(random, q));
                }

                break;
            }

            case DnsTemplate.RepeatedExchanger:
            {
                string[] name = ["mx", .. q];
                string[] upper = [.. name.Select(l => l.ToUpperInvariant())];
                var records = new List<(int, string[])> { (10, name), (10, upper), (20, name), (Preference(random), random.Next(2) == 0 ? name : upper) };
                w.Header(id, baseFlags, 1, records.Count, 0, 1);
                w.Question(q, (int)qtype);
                foreach (var (preference, exchange) in records)
                {
                    w.Mx(q, preference, exchange);
                }

                w.Address(name, Pick(random, V4));
                break;
            }

            case DnsTemplate.Addresses:
            {
                var list = Addresses(random, q).ToList();
                w.Header(id, baseFlags, 1, list.Count, 0, 0);
                w.Question(q, (int)qtype);
                foreach (var (owner, address) in list)
                {
                    w.Address(owner, address);
                }

                break;
            }

            case DnsTemplate.CnameToAddresses:
            {
                string[] target = ["host", .. q];
                var list = Addresses(random, target).ToList();
                w.Header(id, baseFlags, 1, list.Count + 1, 0, 0);
                w.Question(q, (int)qtype);
                w.CName(q, target);
                foreach (var (owner, address) in list)
                {
                    w.Address(owner, address);
                }

                break;
            }

            case DnsTemplate.NoData:
                w.Header(id, baseFlags, 1, 0, 1, 0);
                w.Question(q, (int)qtype);
                w.Soa(q.Length > 1 ? q[1..] : q);
                break;

            case DnsTemplate.NxDomain:
                w.Header(id, baseFlags | 3, 1, 0, 1, 0);
                w.Question(q, (int)qtype);
                w.Soa(q.Length > 1 ? q[1..] : q);
                break;

            case DnsTemplate.ServerFailure:
            {
                int[] codes = [2, 5, 4, 1, 6, 9, 15];
                w.Header(id, baseFlags | codes[random.Next(codes.Length)], 1, 0, 0, 0);
                w.Question(q, (int)qtype);
                break;
            }

            case DnsTemplate.Truncated:
            {
                var full = Render(DnsTemplate.Mx, seed + 1, qname, qtype);
                full[2] |= TC >> 8;
                return full.AsSpan(0, random.Next(12, full.Length + 1)).ToArray();
            }

            default:
                throw new ArgumentOutOfRangeException(nameof(template));
        }

        return w.ToArray();
    }

    private static int Preference(Random random) => random.Next(6) switch
    {
        0 => 0,
        1 => 65535,
        2 => 10,
        3 => 20,
        _ => random.Next(65536),
    };

    private static string[] Exchanger(Random random, string[] q) => random.Next(8) switch
    {
        0 => ["mx1", .. q],
        1 => ["MX1", .. q],
        2 => ["mx2", .. q],
        3 => ["mail", "other", "test"],
        4 => q,
        5 => ["localhost"],
        6 => ["127", "0", "0", "1"],
        _ => [$"m{random.Next(100)}", .. q],
    };

    private static IEnumerable<(string[] Owner, IPAddress Address)> Addresses(Random random, string[] owner)
    {
        var count = random.Next(0, 4);
        for (var i = 0; i < count; i++)
        {
            yield return (owner, random.Next(2) == 0 ? Pick(random, V4) : Pick(random, V6));
        }
    }

    private static T Pick<T>(Random random, T[] items) => items[random.Next(items.Length)];
}

/// <summary>One byte-level change to a rendered message.</summary>
public readonly record struct Mutation(int Kind, int Position, int Value)
{
    public const int Kinds = 8;

    private static readonly byte[] Interesting = [0x00, 0xff, 0xc0, 0xc0, 0x3f, 0x40, 0x80, 0x7f, 0x01, 0x0c];

    public static byte[] ApplyAll(byte[] bytes, IReadOnlyList<Mutation> mutations)
    {
        var list = bytes.ToList();
        foreach (var m in mutations)
        {
            m.Apply(list);
        }

        return [.. list];
    }

    private void Apply(List<byte> b)
    {
        var p = (int)((uint)Position % (uint)Math.Max(b.Count, 1));
        switch (Kind)
        {
            case 0 when b.Count > 0:
                b[p] ^= (byte)(1 << (Value & 7));
                break;
            case 1 when b.Count > 0:
                b[p] = (Value & 0x100) != 0 ? Interesting[(uint)Value % Interesting.Length] : (byte)Value;
                break;
            case 2:
                b.RemoveRange(p, b.Count - p);
                break;
            case 3:
                b.InsertRange(Math.Min(p, b.Count), Enumerable.Repeat((byte)Value, 1 + ((Value >> 8) & 7)));
                break;
            case 4 when b.Count > 0:
                b.RemoveRange(p, Math.Min(1 + ((Value >> 8) & 15), b.Count - p));
                break;
            case 5 when b.Count > 0:
            {
                var length = Math.Min(1 + ((Value >> 8) & 31), b.Count - p);
                var copy = b.GetRange(p, length);
                b.InsertRange((int)((uint)Value % (uint)b.Count), copy);
                break;
            }

            case 6 when b.Count >= 12:
            {
                // A header count (QD, AN, NS, AR) set to something else, 0xffff included.
                var field = 4 + (2 * (Value & 3));
                int[] counts = [0, 1, 2, 3, 255, 0xffff];
                var count = counts[(uint)(Value >> 2) % counts.Length];
                b[field] = (byte)(count >> 8);
                b[field + 1] = (byte)count;
                break;
            }

            case 7 when b.Count >= 2:
            {
                // A compression pointer: to itself, to the header, or anywhere.
                p = Math.Min(p, b.Count - 2);
                var target = (Value & 3) switch { 0 => p, 1 => 12, 2 => p + 2, _ => (Value >> 2) & 0x3fff };
                b[p] = (byte)(0xc0 | ((target >> 8) & 0x3f));
                b[p + 1] = (byte)target;
                break;
            }

            default:
                break;
        }
    }
}
