using System.Globalization;
using Microsoft.Win32.SafeHandles;
using QRemote.Posix;
using QRemote.Tls;

namespace QRemote.Report;

/// <summary>
/// The spool's files, as the reporter sees them: the live spool (<c>PATH</c>, appended to by deliveries), the rotated
/// ones (<c>PATH.1</c>, <c>PATH.2</c>, ...), the lock (<c>PATH.lock</c>) and the sent state (<c>PATH.sent</c>,
/// <see cref="TlsReportState"/>). Every file is opened without following a link, and read only as a lone regular file
/// (<see cref="Libc.OpenRegularNoFollow"/>): the spool's directory is writable by qmailr, and a reporter run as root
/// must not read or write what a link planted there points at.
/// </summary>
internal sealed class TlsReportSpool(string path)
{
    public string Path { get; } = path;

    public string LockPath => Path + ".lock";

    public string StatePath => Path + ".sent";

    /// <summary>An exclusive lock for this run (flock on <c>PATH.lock</c>); null when another run holds it or the lock file
    /// cannot be opened. Closing the descriptor releases it.</summary>
    public SafeFileHandle? TryLock()
    {
        var fd = Libc.OpenRegularNoFollow(LockPath, Libc.ORdwr | Libc.OCreat, Libc.Mode0640);
        if (fd < 0)
        {
            return null;
        }

        if (Libc.FLock(fd, Libc.LockEx | Libc.LockNb) != 0)
        {
            _ = Libc.Close(fd);
            return null;
        }

        return new SafeFileHandle(fd, ownsHandle: true);
    }

    /// <summary>
    /// Renames the live spool to the next <c>PATH.N</c> (under the lock, so no other reporter picks the same N) and returns
    /// its name; null when there is no spool, or it is not a regular file (a link planted there is left alone: deliveries
    /// refuse to append through it too).
    /// <para>rename(2) moves the name, not the file: a delivery that opened the spool before the rename and writes after it
    /// appends into the renamed file, whole (one write(2) on O_APPEND), and the next delivery creates a fresh spool. A line
    /// written that late carries the time it was recorded, which is today's, so the rotated file is kept (its days are not
    /// all sent) and the line is read again by the next run.</para>
    /// </summary>
    public string? Rotate()
    {
        var info = new FileInfo(Path);
        if (!info.Exists || info.LinkTarget is not null)
        {
            return null;
        }

        var next = Rotated().Select(r => r.Number).DefaultIfEmpty(0).Max() + 1;
        var target = $"{Path}.{next.ToString(CultureInfo.InvariantCulture)}";
        // Overwrite true: rename(2) itself. (Without, .NET may link and unlink, and for that instant the spool has two
        // names, which a delivery's lone-file check would refuse.) The name is new: nothing is overwritten.
        File.Move(Path, target, overwrite: true);
        return target;
    }

    /// <summary>The rotated files, oldest first.</summary>
    public IReadOnlyList<(string File, int Number)> Rotated()
    {
        var directory = System.IO.Path.GetDirectoryName(Path) is { Length: > 0 } d ? d : ".";
        var prefix = System.IO.Path.GetFileName(Path) + ".";
        if (!Directory.Exists(directory))
        {
            return [];
        }

        // The pattern is .NET's, which also matches "PATH" itself for "PATH.*": the names are checked again.
        return Directory.EnumerateFiles(directory, prefix + "*")
            .Where(f => System.IO.Path.GetFileName(f).StartsWith(prefix, StringComparison.Ordinal))
            .Select(f => (File: f, Suffix: System.IO.Path.GetFileName(f)[prefix.Length..]))
            .Where(f => f.Suffix.Length is > 0 and < 10 && f.Suffix.All(char.IsAsciiDigit))
            .Select(f => (f.File, Number: int.Parse(f.Suffix, NumberStyles.None, CultureInfo.InvariantCulture)))
            .OrderBy(f => f.Number)
            .ToList();
    }

    /// <summary>Every entry of one spool file, and how many lines were not entries (junk, over-long, cut short); null when
    /// the file cannot be opened as a lone regular file.</summary>
    public static (List<TlsReportEntry> Entries, int Junk)? Read(string file)
    {
        var fd = Libc.OpenRegularNoFollow(file, Libc.ORdonly);
        if (fd < 0)
        {
            return null;
        }

        using var handle = new SafeFileHandle(fd, ownsHandle: true);
        using var stream = new FileStream(handle, FileAccess.Read);
        var entries = new List<TlsReportEntry>();
        var junk = 0;
        var line = new MemoryStream();
        var overlong = false;
        var buffer = new byte[64 * 1024];
        int read;
        while ((read = stream.Read(buffer)) > 0)
        {
            var span = buffer.AsSpan(0, read);
            while (span.Length > 0)
            {
                var newline = span.IndexOf((byte)'\n');
                var part = newline < 0 ? span : span[..newline];
                if (!overlong)
                {
                    if (line.Length + part.Length > TlsReportEntry.MaxLineBytes)
                    {
                        // Not one of ours: skipped to its end without holding it in memory.
                        overlong = true;
                        line.SetLength(0);
                    }
                    else
                    {
                        line.Write(part);
                    }
                }

                if (newline < 0)
                {
                    break;
                }

                Finish(line, overlong, entries, ref junk);
                overlong = false;
                span = span[(newline + 1)..];
            }
        }

        if (line.Length > 0 || overlong)
        {
            // A last line without its newline: a write cut short. Not trusted.
            junk++;
        }

        return (entries, junk);
    }

    private static void Finish(MemoryStream line, bool overlong, List<TlsReportEntry> entries, ref int junk)
    {
        if (!overlong && line.Length > 0 && TlsReportEntry.TryParse(line.GetBuffer().AsSpan(0, (int)line.Length)) is { } entry)
        {
            entries.Add(entry);
        }
        else if (overlong || line.Length > 0)
        {
            junk++;
        }

        line.SetLength(0);
    }
}
