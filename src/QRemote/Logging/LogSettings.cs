using QRemote.Qmail;
using Serilog.Events;

namespace QRemote.Logging;

/// <summary>
/// <c>control/qremote-log</c>: one line, <c>PATH [LEVEL]</c>, LEVEL <c>info</c> (the default: one
/// event per delivery) or <c>debug</c> (adds the SMTP transcript and the DNS steps). No file, no
/// log. The file is opened with mode 0640 and must be writable by qmailr.
/// </summary>
internal sealed record LogSettings(string Path, LogEventLevel Level)
{
    public const string ControlFile = "qremote-log";

    public static LogSettings? Load(ControlFiles control)
    {
        var line = control.ReadLine(ControlFile);
        if (string.IsNullOrWhiteSpace(line))
        {
            return null;
        }

        var words = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
        var level = words.Length > 1 && words[1].Equals("debug", StringComparison.OrdinalIgnoreCase)
            ? LogEventLevel.Debug
            : LogEventLevel.Information;
        return new LogSettings(words[0], level);
    }
}
