using QRemote.Qmail;

namespace QRemote.Tls;

/// <summary>
/// <c>control/qremote-tlsrpt</c>, one line: where each delivery's TLS results go (docs/tls-reporting.md). A path: the
/// spool that <c>qremote --tls-report</c> reads; <c>unix:PATH</c>: the datagram socket of sys4's tlsrpt-collectd,
/// one datagram per result in libtlsrpt's format. No file (or a blank one): nothing is recorded, and nothing of
/// this is loaded.
/// </summary>
/// <param name="Path">The spool file, or the socket's path.</param>
/// <param name="Datagram">True for <c>unix:</c>: tlsrpt-collectd's socket.</param>
internal sealed record TlsReportTarget(string Path, bool Datagram)
{
    public const string ControlFile = "qremote-tlsrpt";

    public const string DatagramPrefix = "unix:";

    /// <summary>The target; null when the control file is missing, blank, unreadable, or names no absolute path
    /// (recording never defers mail, so an unreadable file only means no recording).</summary>
    public static TlsReportTarget? Load(string qmailHome)
    {
        string? line;
        try
        {
            line = new ControlFiles(System.IO.Path.Combine(qmailHome, "control")).ReadLine(ControlFile)?.Trim();
        }
        catch (ControlFileException)
        {
            return null;
        }

        return Parse(line);
    }

    public static TlsReportTarget? Parse(string? line)
    {
        if (string.IsNullOrEmpty(line))
        {
            return null;
        }

        var datagram = line.StartsWith(DatagramPrefix, StringComparison.Ordinal);
        var path = datagram ? line[DatagramPrefix.Length..] : line;
        return path.StartsWith('/') && !path.Contains('\0', StringComparison.Ordinal) ? new TlsReportTarget(path, datagram) : null;
    }
}
