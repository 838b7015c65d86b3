using System.Text;
using CsCheck;
using QRemote.Qmail;

namespace QRemote.Tests.Properties;

/// <summary>The generators behind the properties and the fuzz runner (bench/Fuzz links this file).</summary>
internal static class HostileGen
{
    private static Gen<byte[]> Ascii(params string[] options) => Gen.OneOf(options).Select(s => Encoding.Latin1.GetBytes(s));

    private static byte[] Concat(byte[][] parts)
    {
        var result = new byte[parts.Sum(p => p.Length)];
        var at = 0;
        foreach (var p in parts)
        {
            p.CopyTo(result, at);
            at += p.Length;
        }

        return result;
    }

    /// <summary>How a stream is cut: tiny pieces, medium ones, one byte at a time, or large blocks.</summary>
    public static readonly Gen<int[]> Chunks = Gen.Frequency(
        (3, Gen.Int[1, 16].Array[1, 6]),
        (2, Gen.Int[1, 700].Array[1, 4]),
        (1, Gen.Const<int[]>(() => [1])),
        (1, Gen.Int[1, 70_000].Array[1, 3]));

    // ---- DNS ---------------------------------------------------------------------------------------

    public static readonly Gen<Mutation> DnsMutation =
        Gen.Select(Gen.Int[0, Mutation.Kinds - 1], Gen.Int[0, 0xffff], Gen.Int[0, 0xffff], (k, p, v) => new Mutation(k, p, v));

    /// <summary>Random bytes behind a plausible header (QR set, a random RCODE, small counts) and, sometimes,
    /// the MX question for the domain: they get past the header and break in the records.</summary>
    public static readonly Gen<byte[]> DnsHeaderThenNoise =
        Gen.Select(Gen.Int[0, 15], Gen.Int[0, 0xffff], Gen.Int[0, 5], Gen.Bool, Gen.Byte.Array[0, 400], (rcode, flags, answers, question, tail) =>
        {
            var w = new DnsWriter();
            w.Header(flags & 0xffff, (flags & 0x7ff0) | DnsTemplates.QR | rcode, question ? 1 : 0, answers, flags & 3, (flags >> 2) & 3);
            if (question)
            {
                w.Question(DnsWriter.Labels(DnsRouteInvariants.Domain), (int)ARSoft.Tools.Net.Dns.RecordType.Mx);
            }

            w.Raw(tail);
            return w.ToArray();
        });

    private static readonly Gen<Mutation[]> DnsMutations =
        Gen.Frequency((3, Gen.Const(Array.Empty<Mutation>())), (3, DnsMutation.Array[1, 3]), (1, DnsMutation.Array[4, 12]));

    private static readonly Gen<Mutation[]> FewDnsMutations =
        Gen.Frequency((6, Gen.Const(Array.Empty<Mutation>())), (2, DnsMutation.Array[1, 2]), (1, DnsMutation.Array[3, 8]));

    private static Gen<AnswerSpec> Templated(Gen<DnsTemplate> templates, Gen<Mutation[]> mutations) =>
        Gen.Select(templates, Gen.Int, mutations, (t, seed, m) => new AnswerSpec(null, t, seed, m));

    /// <summary>Any answer at all: any template, often mutated, or raw bytes.</summary>
    public static readonly Gen<AnswerSpec> DnsAnswers = Gen.Frequency(
        (6, Templated(Gen.Enum<DnsTemplate>(), DnsMutations)),
        (1, Gen.Byte.Array[0, 600].Select(AnswerSpec.Raw)),
        (1, DnsHeaderThenNoise.Select(AnswerSpec.Raw)));

    /// <summary>Answers shaped for an MX question, sometimes mutated.</summary>
    public static readonly Gen<AnswerSpec> MxAnswers = Gen.Frequency(
        (12, Templated(Gen.Frequency(
            (5, DnsTemplate.Mx), (3, DnsTemplate.MxBehindCnameChain), (1, DnsTemplate.CnameLeavesAnswer), (1, DnsTemplate.CnameLoop),
            (1, DnsTemplate.NullMx), (1, DnsTemplate.RepeatedExchanger), (2, DnsTemplate.NoData), (1, DnsTemplate.NxDomain),
            (1, DnsTemplate.ServerFailure), (1, DnsTemplate.Truncated)), FewDnsMutations)),
        (1, DnsAnswers));

    /// <summary>Answers shaped for an A or AAAA question, sometimes mutated.</summary>
    public static readonly Gen<AnswerSpec> AddressAnswers = Gen.Frequency(
        (12, Templated(Gen.Frequency(
            (6, DnsTemplate.Addresses), (3, DnsTemplate.CnameToAddresses), (2, DnsTemplate.NoData), (1, DnsTemplate.NxDomain),
            (1, DnsTemplate.ServerFailure), (1, DnsTemplate.Truncated), (1, DnsTemplate.CnameLeavesAnswer), (1, DnsTemplate.CnameLoop)), FewDnsMutations)),
        (1, DnsAnswers));

    private static readonly Gen<bool> CheckQuestion = Gen.Frequency((3, Gen.Const(true)), (1, Gen.Const(false)));

    /// <summary>Half the scenarios answer by question type (so that whole routes come out), half answer anything
    /// with anything, in turn.</summary>
    public static readonly Gen<DnsScenario> DnsScenarios = Gen.Frequency(
        (1, Gen.Select(MxAnswers.Array[1, 3], AddressAnswers.Array[1, 6], CheckQuestion, Gen.Int, (mx, addresses, check, seed) => new DnsScenario(mx, check, seed, addresses))),
        (1, Gen.Select(DnsAnswers.Array[1, 8], CheckQuestion, Gen.Int, (answers, check, seed) => new DnsScenario(answers, check, seed))));

    // ---- SMTP replies --------------------------------------------------------------------------------

    private static readonly Gen<byte[]> ReplyCode = Gen.Frequency(
        (6, Ascii("250", "220", "354", "421", "450", "451", "550", "552", "554", "221", "334", "235", "530", "500")),
        (3, Ascii("2xx", "99", "2500", "2x0", "", "25", "x50", " 25", "+OK", "\0\0\0", "\xff\xff\xff", "25\r0", "-250", "0000")),
        (1, Gen.Const(() => Encoding.UTF8.GetBytes("\u0662\u0665\u0660"))),
        (1, Gen.Byte.Array[0, 4]));

    private static readonly Gen<byte[]> ReplySeparator = Ascii(" ", " ", "-", "-", "", "\t", "\r", "--", "- ", "\0");

    private static readonly Gen<byte[]> ReplyText = Gen.Frequency(
        (4, Gen.Char[' ', '~'].Array[0, 60].Select(c => Encoding.Latin1.GetBytes(c))),
        (2, Gen.Byte.Array[0, 60]),
        (1, Ascii("\0", "\xff", "\xc2\x80", "\xc2\x9f", "\xed\xa0\x80", "\xef\xbf\xbd", "\xf4\x90\x80\x80", "\xc0\xaf", "\x1b[31m", "\x7f", "\xe2\x80\xa8", "\xf0\x9f\x98\x80", "\xf0\x9f", "\xe2\x82")),
        (1, Gen.Const(() => Encoding.UTF8.GetBytes("2.1.5 Ok, d\u00e9j\u00e0 vu \u4e2d\u6587 \ud83d\ude00"))));

    private static readonly Gen<byte[]> LineEnding = Ascii("\r\n", "\r\n", "\r\n", "\r\n", "\n", "\r\r\n", "", "\r", "\n\r");

    private static readonly Gen<byte[]> ReplyLine =
        Gen.Select(ReplyCode, ReplySeparator, ReplyText.Array[0, 3], LineEnding, (c, s, t, e) => Concat([c, s, Concat(t), e]));

    /// <summary>Rare and large: a 1 MB line, thousands of continuation lines, lines around the 5000-byte cap.</summary>
    public static readonly Gen<byte[]> BigReply = Gen.Frequency(
        (1, Gen.Select(Gen.Bool, Gen.Int[0, 3], (continued, tail) =>
        {
            var bytes = new byte[(1 << 20) + 16];
            bytes.AsSpan().Fill((byte)'x');
            Encoding.ASCII.GetBytes(continued ? "250-" : "550 ").CopyTo(bytes, 0);
            var end = (continued ? "\r\n250 ok\r\n" : "\r\n")[..^(tail == 3 && !continued ? 1 : 0)];
            return Concat([bytes, Encoding.ASCII.GetBytes(end)]);
        })),
        (3, Gen.Select(Gen.Int[1000, 5000], Gen.Bool, (n, crlf) =>
        {
            var b = new StringBuilder(n * 16);
            var eol = crlf ? "\r\n" : "\n";
            for (var i = 0; i < n; i++)
            {
                b.Append(FormattableString.Invariant($"250-continuation line {i}{eol}"));
            }

            return Encoding.ASCII.GetBytes(b.Append("250 end").Append(eol).ToString());
        })),
        (10, Gen.Select(Gen.Int[4990, 5010], Gen.Int[4990, 5010], Gen.OneOf("250", "2xx", "550"), Gen.OneOf('-', ' '), Gen.Byte[0x80, 0xff], (first, second, code, sep, filler) =>
        {
            var a = new byte[first];
            a.AsSpan().Fill(first % 2 == 0 ? (byte)'a' : filler);
            Encoding.ASCII.GetBytes(code + sep).CopyTo(a, 0);
            var b = new byte[second];
            b.AsSpan().Fill((byte)'b');
            Encoding.ASCII.GetBytes("250 ").CopyTo(b, 0);
            return Concat([a, "\r\n"u8.ToArray(), b, "\r\n"u8.ToArray()]);
        })));

    public static readonly Gen<byte[]> ReplyBytes = Gen.Frequency(
        (6, ReplyLine.Array[0, 40].Select(Concat)),
        (2, Gen.Byte.Array[0, 2000]),
        (1, Gen.Frequency((4, ReplyLine), (1, Gen.Byte.Array[0, 50])).Array[0, 30].Select(Concat)),
        (1, Gen.Byte[0, 0x0f].Array[0, 500]),
        (1, BigReply));

    public static readonly Gen<ReplyInput> ReplyInputs =
        Gen.Select(ReplyBytes, Chunks, Gen.Frequency((3, Gen.Const(false)), (1, Gen.Const(true))), (b, c, t) => new ReplyInput(b, c, t));

    // ---- report texts ----------------------------------------------------------------------------------

    private static readonly Gen<string> HostilePiece = Gen.Frequency(
        (8, Gen.Char[' ', '~'].Select(c => c.ToString())),
        (3, Gen.Char['\0', '\x1f'].Select(c => c.ToString())),
        (2, Gen.Char['\x7f', '\x9f'].Select(c => c.ToString())),
        (2, Gen.Char['\ud800', '\udfff'].Select(c => c.ToString())),
        (2, Gen.Char.Select(c => c.ToString())),
        (2, Gen.OneOf("\n", "\r\n", "\ufffd", "\u2028", "\ufeff", "\uffff", "\u00e9", "\ud83d\ude00", "\ud834\udd1e", "\u4e2d", "(#5.1.2)", "\0\0")));

    public static readonly Gen<string> HostileString = Gen.Frequency(
        (10, HostilePiece.Array[0, 80].Select(string.Concat)),
        (1, HostilePiece.Array[2400, 2700].Select(string.Concat)),
        (1, Gen.OneOf("\ud83d\ude00", "x", "\u00e9", "\u4e2d").Array[1200, 2600].Select(string.Concat)));

    public static readonly Gen<ReportInput> ReportInputs =
        Gen.Int[0, 6].SelectMany(n => Gen.Select(
            Gen.Enum<RecipientLetter>().Array[n, n],
            HostileString.Array[n, n],
            Gen.Enum<MessageLetter>(),
            HostileString,
            HostileString,
            (letters, texts, letter, text, host) => new ReportInput(letters, texts, letter, text, host)));

    // ---- message bytes ---------------------------------------------------------------------------------

    private static readonly Gen<byte[]> MessageBytes = Gen.Frequency(
        (3, Ascii(".", ".", "\r", "\n", "\r\n", ".\r\n", "\r.\r", "..", "a", "x.y", "\0", "\xff", "\n.\n", "\r\n.\r\n", ". ").Array[0, 200].Select(Concat)),
        (2, Gen.Byte.Array[0, 2000]),
        (1, Gen.OneOf((byte)'.', (byte)'\r', (byte)'\n', (byte)'a').Array[0, 500]));

    public static readonly Gen<WireInput> WireInputs =
        Gen.Select(MessageBytes, Chunks, Gen.Frequency((4, Gen.Const(true)), (1, Gen.Const(false))), (b, c, d) => new WireInput(b, c, d));
}
