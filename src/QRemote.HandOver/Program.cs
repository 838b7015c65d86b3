using QRemote.Daemon;
using QRemote.Posix;
using QRemote.Qmail;

namespace QRemote.HandOver;

/// <summary>
/// <c>qremote-handover</c>: the program an operator points qmail-remote at while qremote-daemon runs (docs/daemon.md).
/// It makes the same checks and the same hand-over as qremote's own first step (<see cref="Daemon.HandOver"/>, the
/// same source files), in a binary that holds nothing else, so a handed-over delivery costs little more than the
/// runtime's own start (docs/performance.md). Whenever qremote would deliver by itself (no daemon configured, the
/// daemon down, refusing, untrusted, lost before the commit; any other program name; stdout unusable; argv it would
/// refuse), this process execs qremote from its own directory with the same argv and environment, stdin where it
/// was: the report is qremote's own.
/// </summary>
internal static class Program
{
    public static int Main(string[] args)
    {
        FullBinary.RememberStandardInput();
        var role = ProgramRoles.FromArgv0(Environment.GetCommandLineArgs().FirstOrDefault());
        if (role != ProgramRole.QmailRemote || !StandardOutput.IsWritable())
        {
            return FullBinary.Exec(handOverTried: false);
        }

        var command = CommandLine.ForQmailRemote(args, Environment.GetEnvironmentVariable, WorkingDirectory());
        if (command.Error is not null || Invocation.FromPositional(command.Positional) is not { } invocation
            || !RawArguments.AreUtf8(command.Positional, RawArguments.ReadProcCommandLine))
        {
            // qremote's own report for each (invoked improperly, a bad setting, bytes that are not UTF-8).
            return FullBinary.Exec(handOverTried: false);
        }

        DeliveryReport? report;
        using (var stop = new StopSignals())
        {
            report = HandOver(command, invocation, stop);
        }

        if (report is null)
        {
            return FullBinary.Exec(handOverTried: true);
        }

        ReportOutput.Write(report, command.Positional);
        return 0;
    }

    /// <summary>The daemon's report (or qremote's for a signal, an unknown outcome, a failure); null when qremote is
    /// to deliver by itself.</summary>
    private static DeliveryReport? HandOver(CommandLine command, Invocation invocation, StopSignals stop)
    {
        try
        {
            return Daemon.HandOver.Try(command, invocation, stop.Token) ?? (stop.Requested ? Reports.Stopped() : null);
        }
        catch (OperationCanceledException) when (stop.Requested)
        {
            return Reports.Stopped();
        }
        catch (OutOfMemoryException)
        {
            return Reports.OutOfMemory();
        }
#pragma warning disable CA1031 // As qremote's Program: every failure becomes one Z report, never a crash.
        catch (Exception)
        {
            return Reports.UnexpectedFailure();
        }
#pragma warning restore CA1031
    }

    private static string? WorkingDirectory()
    {
        try
        {
            return Environment.CurrentDirectory;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
