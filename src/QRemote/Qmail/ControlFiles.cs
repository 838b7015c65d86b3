using System.Globalization;

namespace QRemote.Qmail;

/// <summary>
/// Reads qmail control files the way qmail's control.c does: a missing file means "use the
/// default"; a file that exists but cannot be read means "defer" (qmail-remote's
/// <c>Unable to read control files. (#4.3.0)</c>), because guessing could misroute mail.
/// </summary>
internal sealed class ControlFiles(string directory)
{
    public string Directory { get; } = directory;

    /// <summary>The first line with trailing white space removed; null when the file is missing.</summary>
    /// <exception cref="ControlFileException">The file exists but cannot be read.</exception>
    public string? ReadLine(string name)
    {
        var text = ReadText(name);
        if (text is null)
        {
            return null;
        }

        var newline = text.IndexOf('\n', StringComparison.Ordinal);
        return (newline < 0 ? text : text[..newline]).TrimEnd(' ', '\t', '\r', '\n');
    }

    /// <summary>Every line with trailing white space removed, blank lines and lines starting with <c>#</c>
    /// skipped; empty when the file is missing.</summary>
    public IReadOnlyList<string> ReadLines(string name)
    {
        var text = ReadText(name);
        if (text is null)
        {
            return [];
        }

        var lines = new List<string>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd(' ', '\t', '\r');
            if (line.Length > 0 && line[0] != '#')
            {
                lines.Add(line);
            }
        }

        return lines;
    }

    /// <summary>An unsigned number from the first line, as qmail's control_readint: missing file or a line
    /// that does not start with a digit keeps the default; digits are read up to the first non-digit.</summary>
    public int ReadInt(string name, int defaultValue)
    {
        var line = ReadLine(name);
        if (line is null)
        {
            return defaultValue;
        }

        var digits = 0;
        while (digits < line.Length && char.IsAsciiDigit(line[digits]))
        {
            digits++;
        }

        if (digits == 0)
        {
            return defaultValue;
        }

        return long.TryParse(line.AsSpan(0, digits), NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value <= int.MaxValue
            ? (int)value
            : int.MaxValue;
    }

    /// <summary>Whether a control file (or directory) exists, for presence-only switches.</summary>
    public bool Exists(string name) => Path.Exists(Path.Combine(Directory, name));

    private string? ReadText(string name)
    {
        var path = Path.Combine(Directory, name);
        if (IsMissing(path))
        {
            // Most control files are absent: asked first, so the missing ones cost a statx(2), not a thrown exception
            // (an AOT process unwinds through libunwind for each: 4% of a delivery, docs/performance.md).
            return null;
        }

        try
        {
            return File.ReadAllText(path, System.Text.Encoding.UTF8);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        catch (DirectoryNotFoundException)
        {
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ControlFileException(path, e);
        }
    }

    /// <summary>Nothing there (ENOENT, ENOTDIR), as the read would find; any other answer leaves it to the read.</summary>
    private static unsafe bool IsMissing(string path)
    {
        Posix.Libc.Statx buffer;
        return Posix.Libc.StatX(-100 /* AT_FDCWD */, path, 0, 0, &buffer) != 0
            && System.Runtime.InteropServices.Marshal.GetLastPInvokeError() is 2 or 20;
    }
}
