using System.Net;
using System.Text;
using QRemote.Dns;
using QRemote.Qmail;
using QRemote.Smtp;

namespace QRemote.Tests.Properties;

/// <summary>
/// Product bugs the properties found, not fixed here (src/ belongs to others). Each is recognised narrowly by
/// the invariants and thrown as a <see cref="KnownBugException"/>, which the property tests note instead of
/// failing on, and the fuzz runner counts apart. Each bug's presence is measured, not assumed: once src/ is
/// fixed, <see cref="IsPresent"/> turns false, the excuse stops applying, and its regression test (in
/// KnownProductBugTests) asserts the right behaviour instead of being skipped.
/// </summary>
public static class KnownProductBugs
{
    /// <summary>MailRouteResolver.ResolveMxAsync: the same exchanger at two preferences (or spelt in two cases at
    /// two preferences) makes <c>ordered.ToDictionary</c> throw ArgumentException ("An item with the same key has
    /// already been added"): the whole delivery fails with "QRemote failed unexpectedly" (Z) on every retry.</summary>
    public const string RepeatedExchanger = "repeated-exchanger";

    /// <summary>ReplyRecorder: when a reply's first line is too long to keep (4999+ bytes after CRs are dropped), the
    /// code is read from the first line that was kept, so "2xx-&lt;5000 bytes&gt;" then "250 ok" records code 250;
    /// and a one-line reply of 4999+ bytes is recorded with empty text.</summary>
    public const string CodeFromLaterLine = "code-from-later-line";

    /// <summary>ReportText.Truncate: a lone high surrogate is taken together with the next unit as if they were a
    /// pair, so when a real pair follows, the cut can fall inside that pair.</summary>
    public const string TruncateSplitsPair = "truncate-splits-pair";

    private static readonly Lazy<bool> RepeatedExchangerPresent = new(() =>
    {
        var dns = new ScriptedDns(DnsRouteInvariants.Replay(false, 1, RepeatedExchangerAnswer(), "00"));
        try
        {
            new MailRouteResolver(dns, new FixedLocalAddresses(IPAddress.Loopback), new Random(1))
                .ResolveMxAsync(DnsRouteInvariants.Domain, 25, CancellationToken.None).GetAwaiter().GetResult();
            return false;
        }
        catch (ArgumentException)
        {
            return true;
        }
    });

    private static readonly Lazy<bool> CodeFromLaterLinePresent = new(() =>
    {
        using var recorder = new ReplyRecorder(null);
        var bytes = Encoding.ASCII.GetBytes("2xx-" + new string('a', 5000) + "\r\n250 ok\r\n");
        for (var i = 0; i < bytes.Length; i += 1000)
        {
            recorder.LogServer(bytes, i, Math.Min(1000, bytes.Length - i));
        }

        return recorder.LastReply?.Code != -1;
    });

    private static readonly Lazy<bool> TruncateSplitsPairPresent = new(() => ReportText.Truncate("\ud800\ud83d\ude00", 6) == "\ud800\ud83d");

    public static bool IsPresent(string bug) => bug switch
    {
        RepeatedExchanger => RepeatedExchangerPresent.Value,
        CodeFromLaterLine => CodeFromLaterLinePresent.Value,
        TruncateSplitsPair => TruncateSplitsPairPresent.Value,
        _ => throw new ArgumentOutOfRangeException(nameof(bug)),
    };

    /// <summary>The regression case's MX answer, as hex: example.test MX 10 mx.example.test, MX 20 mx.example.test.</summary>
    public static string RepeatedExchangerAnswer()
    {
        var w = new DnsWriter();
        string[] q = ["example", "test"];
        string[] mx = ["mx", "example", "test"];
        w.Header(0x1234, DnsTemplates.QR | DnsTemplates.RD | DnsTemplates.RA, 1, 2, 0, 0);
        w.Question(q, (int)ARSoft.Tools.Net.Dns.RecordType.Mx);
        w.Mx(q, 10, mx);
        w.Mx(q, 20, mx);
        return Hex.Of(w.ToArray());
    }
}

/// <summary>A violation that is one of <see cref="KnownProductBugs"/>, still present.</summary>
public sealed class KnownBugException : Exception
{
    public KnownBugException()
    {
        Bug = "";
    }

    public KnownBugException(string message)
        : base(message)
    {
        Bug = "";
    }

    public KnownBugException(string message, Exception inner)
        : base(message, inner)
    {
        Bug = "";
    }

    public KnownBugException(string bug, string message, Exception? inner = null)
        : base($"known product bug {bug}: {message}", inner)
    {
        Bug = bug;
    }

    public string Bug { get; }
}
