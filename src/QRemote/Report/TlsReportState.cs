using System.Globalization;
using System.Text;
using Microsoft.Win32.SafeHandles;
using QRemote.Posix;

namespace QRemote.Report;

/// <summary>
/// What was sent, so that each day's report for a domain goes to each destination once (<c>PATH.sent</c>): one line per
/// destination reached, <c>DAY DOMAIN URI</c>, and <c>DAY DOMAIN *</c> once the domain's day is done (every destination
/// reached or refused for good, or no TLSRPT record). Lines older than <see cref="Keep"/> are dropped on save. Saved
/// after each destination, by writing a new file and renaming it over the old one: a run that dies leaves either
/// state, never half of one.
/// </summary>
internal sealed class TlsReportState
{
    /// <summary>How long what was sent is remembered: longer than any day is kept for retrying.</summary>
    public static readonly TimeSpan Keep = TimeSpan.FromDays(40);

    private readonly string _path;
    private readonly HashSet<string> _lines = new(StringComparer.Ordinal);

    private TlsReportState(string path) => _path = path;

    public static TlsReportState Load(string path)
    {
        var state = new TlsReportState(path);
        var fd = Libc.OpenRegularNoFollow(path, Libc.ORdonly);
        if (fd < 0)
        {
            return state;
        }

        using var handle = new SafeFileHandle(fd, ownsHandle: true);
        using var reader = new StreamReader(new FileStream(handle, FileAccess.Read), Encoding.UTF8);
        while (reader.ReadLine() is { } line)
        {
            if (line.Length is > 0 and < 4096 && line.Split(' ').Length == 3)
            {
                state._lines.Add(line);
            }
        }

        return state;
    }

    public bool Done(DateOnly day, string domain) => _lines.Contains(Line(day, domain, "*"));

    public bool Sent(DateOnly day, string domain, Uri destination) => _lines.Contains(Line(day, domain, destination.OriginalString));

    public void MarkSent(DateOnly day, string domain, Uri destination, DateOnly today) => Add(Line(day, domain, destination.OriginalString), today);

    public void MarkDone(DateOnly day, string domain, DateOnly today) => Add(Line(day, domain, "*"), today);

    private static string Line(DateOnly day, string domain, string what) =>
        $"{day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)} {domain} {what.Replace(' ', '+')}";

    private void Add(string line, DateOnly today)
    {
        _lines.Add(line);
        var oldest = today.AddDays(-(int)Keep.TotalDays);
        _lines.RemoveWhere(l => !DateOnly.TryParseExact(l[..Math.Min(10, l.Length)], "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d) || d < oldest);
        Save();
    }

    private unsafe void Save()
    {
        var temporary = _path + ".new";
        // A stale one (a run that died) or a link planted there is removed, never written through: O_EXCL with
        // O_CREAT does not follow a link.
        File.Delete(temporary);
        var fd = Libc.Open(temporary, Libc.OWronly | Libc.OCreat | Libc.OExcl | Libc.ONofollow | Libc.OCloexec, Libc.Mode0640);
        if (fd < 0)
        {
            throw new IOException($"cannot create {temporary}");
        }

        try
        {
            var bytes = Encoding.UTF8.GetBytes(string.Concat(_lines.Order(StringComparer.Ordinal).Select(l => l + "\n")));
            fixed (byte* p = bytes)
            {
                if (Libc.Write(fd, p, bytes.Length) != bytes.Length)
                {
                    throw new IOException($"cannot write {temporary}");
                }
            }
        }
        finally
        {
            _ = Libc.Close(fd);
        }

        File.Move(temporary, _path, overwrite: true);
    }
}
