using QRemote.Qmail;

namespace QRemote.Daemon;

/// <summary>
/// The delivery process's first step when the operator runs the daemon (control/qremote-daemon): hand the message's
/// descriptor and argv over, and take its report. It touches only a control file's existence, the socket and the
/// report parser: no DNS, SMTP, TLS or logging code runs in a process whose delivery the daemon makes.
/// </summary>
internal static class HandOver
{
    /// <summary>Set by qremote-handover when it execs qremote after a hand-over it could not make: qremote then
    /// delivers by itself at once, as after its own attempt, instead of waiting for the daemon a second time.</summary>
    public const string TriedVariable = "QREMOTE_HANDOVER_TRIED";

    /// <summary>The daemon's report; null when this process is to deliver by itself (no daemon, a pipe on stdin, a
    /// refusal, an untrusted socket, a daemon lost before the commit).</summary>
    public static DeliveryReport? Try(CommandLine command, Invocation invocation, CancellationToken cancellationToken)
    {
        if (command.Verbose || Environment.GetEnvironmentVariable(TriedVariable) is not null || SocketPath(command.QmailHome, null) is not { } path || StandardInputOffset() is not { } start)
        {
            // --verbose: a person asking for the transcript wants this delivery's own dialogue on their terminal.
            return null;
        }

        var request = new DaemonRequest(start, DaemonSettings.Of(command), [invocation.Host, invocation.Sender, .. invocation.Recipients]);
        var handed = DaemonClient.Deliver(path, request, 0, cancellationToken);
        return handed.Outcome switch
        {
            DaemonOutcome.Reported => handed.Report,
            DaemonOutcome.Unknown => Reports.DaemonOutcomeUnknown(),
            _ => null,
        };
    }

    /// <summary>The daemon's socket when the operator runs one: control/qremote-daemon exists (its first line, if any,
    /// is the socket's path; <paramref name="explicitSocket"/> wins). Null: no daemon, and not even a connection attempt.</summary>
    public static string? SocketPath(string qmailHome, string? explicitSocket)
    {
        try
        {
            var control = new ControlFiles(Path.Combine(qmailHome, "control"));
            if (!control.Exists("qremote-daemon"))
            {
                return null;
            }

            return explicitSocket ?? (control.ReadLine("qremote-daemon") is { Length: > 0 } path ? path : CommandLine.DefaultSocket);
        }
        catch (ControlFileException)
        {
            return null;
        }
    }

    /// <summary>Where the message starts in standard input, when that is a regular file (as qmail-rspawn gives it); null
    /// for a pipe or a terminal: a person's delivery is made by the process itself.</summary>
    private static long? StandardInputOffset()
    {
        try
        {
            using var stdin = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(0, ownsHandle: false), FileAccess.Read, bufferSize: 0);
            return stdin.CanSeek ? stdin.Position : null;
        }
        catch (Exception e) when (e is ArgumentException or IOException or UnauthorizedAccessException or NotSupportedException)
        {
            return null;
        }
    }
}
