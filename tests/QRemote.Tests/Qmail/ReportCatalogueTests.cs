using System.Net;
using System.Reflection;
using System.Text.RegularExpressions;
using QRemote.Qmail;

namespace QRemote.Tests.Qmail;

/// <summary>
/// docs/reports.md is the catalogue for people, <see cref="Reports"/> the one for the program: every text the code can
/// write is a row of the doc, every row of the doc is a text the code can write, with the same letter; and no report
/// text is built anywhere else in src/.
/// </summary>
public sealed class ReportCatalogueTests
{
    /// <summary>The peer's address in a text built here; the doc writes it as <c>IP</c>.</summary>
    private static readonly IPAddress Peer = IPAddress.Parse("192.0.2.201");

    private const long Size = 7777777;

    private const uint Limit = 6666666;

    /// <summary>Members of <see cref="Reports"/> that format parts of texts rather than being texts.</summary>
    private static readonly string[] Helpers = [nameof(Reports.RemoteHostSaid), nameof(Reports.Host), nameof(Reports.OutSafe)];

    private sealed record Entry(string Member, string Text, char? Letter);

    private sealed record Row(string Letters, string Text);

    [Test]
    public void Every_text_in_Reports_is_a_row_of_docs_reports_md()
    {
        var rows = DocRows();
        var missing = CodeTexts().Where(e => !rows.Any(r => Matches(e, r))).Select(e => $"{e.Member}: {e.Letter} `{Shown(e.Text)}`").ToList();
        Assert.That(missing, Is.Empty, "texts in Reports.cs without a row in docs/reports.md (or with another letter)");
    }

    [Test]
    public void Every_row_of_docs_reports_md_is_a_text_in_Reports()
    {
        var texts = CodeTexts();
        var stale = DocRows().Where(r => !texts.Any(e => Matches(e, r))).Select(r => $"{r.Letters} `{Shown(r.Text)}`").ToList();
        Assert.That(stale, Is.Empty, "rows of docs/reports.md that Reports.cs cannot write");
    }

    [Test]
    public void No_report_text_is_built_outside_Reports_cs()
    {
        var src = Path.Combine(RepositoryRoot(), "src");
        // A string literal that carries an enhanced status code is a report text.
        var literal = new Regex("\"[^\"\\n]*\\(#[245]\\.[0-9]+\\.[0-9]+\\)", RegexOptions.CultureInvariant);
        var found = Directory.EnumerateFiles(src, "*.cs", SearchOption.AllDirectories)
            .Where(f => Path.GetFileName(f) != "Reports.cs" && !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .SelectMany(f => File.ReadLines(f).Select((line, i) => (f, i, line)))
            .Where(l => !l.line.TrimStart().StartsWith("//", StringComparison.Ordinal) && literal.IsMatch(l.line))
            .Select(l => $"{Path.GetRelativePath(src, l.f)}:{l.i + 1}: {l.line.Trim()}")
            .ToList();
        Assert.That(found, Is.Empty, "report texts belong in src/QRemote/Qmail/Reports.cs");
    }

    [Test]
    public void The_catalogue_test_sees_every_member()
    {
        // A test that cannot fail is a defect: the reflection must find the texts, with their placeholders.
        var texts = CodeTexts();
        Assert.That(texts.Select(t => t.Member).Distinct().Count(), Is.GreaterThanOrEqualTo(35));
        Assert.That(texts, Has.Some.Matches<Entry>(e => e!.Text == "Connected to IP but connection died. Possible duplicate! (#4.4.2)\n" && e.Letter == 'Z'));
        Assert.That(texts, Has.Some.Matches<Entry>(e => e!.Text == "Sorry, I couldn't find any host named \u0001host\u0001. (#5.1.2)\n" && e.Letter == 'D'));
        Assert.That(DocRows(), Has.Count.GreaterThanOrEqualTo(40));
        Assert.That(Matches(new Entry("x", "Connected to IP but it does not offer STARTTLS, which \u0001policy\u0001 requires. (#4.7.1)\n", 'Z'),
            new Row("Z", "Connected to IP but it does not offer STARTTLS, which control/tlshosts/HOST.pem requires. (#4.7.1)\n")));
        Assert.That(Matches(new Entry("x", "Connected to IP but greeting failed.\n", null), new Row("Z", "Connected to IP but greeting failed. Oops\n")), Is.False);
        Assert.That(Matches(new Entry("x", "Giving up on IP.\n", 'D'), new Row("Z", "Giving up on IP.\n")), Is.False);
    }

    /// <summary>A doc row is a code text when it reads the same, each string argument standing for any text; and when
    /// the code decides the letter, the row's letters include it.</summary>
    private static bool Matches(Entry entry, Row row)
    {
        var pattern = "^" + string.Join(".+", Regex.Split(entry.Text, "\u0001[A-Za-z]+\u0001").Select(Regex.Escape)) + "$";
        return Regex.IsMatch(row.Text, pattern, RegexOptions.Singleline | RegexOptions.CultureInvariant)
            && (entry.Letter is not { } letter || row.Letters.Contains(letter, StringComparison.Ordinal));
    }

    /// <summary>Every text <see cref="Reports"/> can write: each member called with every boolean combination, an
    /// address shown as <c>IP</c>, N and L for sizes, and each string argument as a marker that stands for any text.</summary>
    private static List<Entry> CodeTexts()
    {
        var entries = new List<Entry>();
        foreach (var method in typeof(Reports).GetMethods(BindingFlags.Public | BindingFlags.Static).Where(m => !Helpers.Contains(m.Name)))
        {
            var parameters = method.GetParameters();
            var booleans = parameters.Count(p => p.ParameterType == typeof(bool));
            for (var combination = 0; combination < 1 << booleans; combination++)
            {
                var bit = 0;
                var arguments = parameters.Select(p => Argument(p, p.ParameterType == typeof(bool) && ((combination >> bit++) & 1) == 1)).ToArray();
                var (text, letter) = method.Invoke(null, arguments) switch
                {
                    DeliveryReport d => (d.Text, (char?)(char)d.Letter),
                    RecipientReport r => (r.Text, (char?)(char)r.Letter),
                    string s => (s, (char?)null),
                    var other => throw new InvalidOperationException($"Reports.{method.Name} returns {other?.GetType().Name}: teach this test about it"),
                };
                text = text.Replace(Reports.Host(Peer), "IP", StringComparison.Ordinal)
                    .Replace(Size.ToString(System.Globalization.CultureInfo.InvariantCulture), "N", StringComparison.Ordinal)
                    .Replace(Limit.ToString(System.Globalization.CultureInfo.InvariantCulture), "L", StringComparison.Ordinal);
                text = Regex.Replace(text, "ZZ([A-Za-z]+)ZZ", "\u0001$1\u0001", RegexOptions.CultureInvariant);
                entries.Add(new Entry(method.Name, text, letter));
            }
        }

        return entries;
    }

    private static object? Argument(ParameterInfo parameter, bool flag)
    {
        var type = parameter.ParameterType;
        // Reports sanitize or outsafe their string arguments: the marker is printable ASCII, which both leave alone.
        return type == typeof(IPAddress) ? Peer
            : type == typeof(bool) ? flag
            : type == typeof(long) ? Size
            : type == typeof(uint) ? Limit
            : type == typeof(string) ? $"ZZ{parameter.Name}ZZ"
            : type == typeof(IReadOnlyList<RecipientReport>) ? Array.Empty<RecipientReport>()
            : throw new InvalidOperationException($"a {type.Name} argument ({parameter.Member.Name}): teach this test about it");
    }

    /// <summary>The text column of docs/reports.md's table: the first code span, with <c>\n</c> as a newline.</summary>
    private static List<Row> DocRows()
    {
        var doc = File.ReadAllLines(Path.Combine(RepositoryRoot(), "docs", "reports.md"));
        var rows = new List<Row>();
        foreach (var line in doc.Where(l => l.StartsWith('|')))
        {
            var cells = line.Split('|');
            var start = cells.Length < 4 ? -1 : cells[2].IndexOf('`', StringComparison.Ordinal);
            if (start < 0)
            {
                continue;
            }

            var end = cells[2].IndexOf('`', start + 1);
            rows.Add(new Row(cells[1].Trim(), cells[2][(start + 1)..end].Replace("\\n", "\n", StringComparison.Ordinal)));
        }

        return rows;
    }

    private static string Shown(string text) => text.Replace("\n", "\\n", StringComparison.Ordinal).Replace("\u0001", "", StringComparison.Ordinal);

    private static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(TestContext.CurrentContext.TestDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "QRemote.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("cannot find QRemote.sln above the test directory");
    }
}
