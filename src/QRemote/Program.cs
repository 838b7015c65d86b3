using QRemote.Daemon;
using QRemote.Delivery;
using QRemote.Posix;
using QRemote.Qmail;

namespace QRemote;

/// <summary>
/// The process contract: argv and stdin in, one report out, exit 0 on every path. qmail-rspawn turns any other exit
/// code but 111 into a permanent bounce, and joins our stderr to the report pipe, so nothing but the report is
/// written unless a person asked for more. What the program is comes from its name (<see cref="ProgramRole"/>):
/// under qmail-rspawn's <c>qmail-remote</c> no argument can make it anything but one delivery.
/// </summary>
internal static class Program
{
    public static int Main(string[] args)
    {
        var role = ProgramRoles.FromArgv0(Environment.GetCommandLineArgs().FirstOrDefault());
        if (role == ProgramRole.Daemon)
        {
            return DaemonMain.Run(args);
        }

        if (!StandardOutput.IsWritable())
        {
            // Nobody could hear the outcome: delivering would risk a duplicate (qmail-rspawn reports
            // "no output" as Z and qmail-send tries again). netqmail also stops at its first failed write.
            return 0;
        }

        // Before anything else can touch TLS: keep .NET from reading the whole system trust store on each
        // handshake (see SystemTrust).
        QRemote.Tls.SystemTrust.Hide();
        var command = role == ProgramRole.Person
            ? CommandLine.Parse(args, Environment.GetEnvironmentVariable, WorkingDirectory())
            : CommandLine.ForQmailRemote(args, Environment.GetEnvironmentVariable, WorkingDirectory());
        if (role == ProgramRole.Person && PersonCommands.Wanted(command))
        {
            return PersonCommands.Run(command);
        }

        DeliveryThreads.UseOneSocketThread();
        using var stop = new StopSignals();
        Write(Deliver(command, stop), command.Positional);
        return 0;
    }

    private static DeliveryReport Deliver(CommandLine command, StopSignals stop)
    {
        try
        {
            return ProcessDelivery.RunAsync(command, stop.Token).GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (stop.Requested)
        {
            return Reports.Stopped();
        }
        catch (OutOfMemoryException)
        {
            return Reports.OutOfMemory();
        }
        catch (System.Net.NetworkInformation.NetworkInformationException)
        {
            // This host's addresses could not be listed, so an MX pointing here could not be recognized.
            return Reports.ResourcesUnavailable();
        }
#pragma warning disable CA1031 // The contract: every failure becomes one Z report, never a crash.
        catch (Exception e)
        {
            if (command.Verbose)
            {
                Console.Error.WriteLine($"qremote: unexpected failure: {e}");
            }

            return Reports.UnexpectedFailure();
        }
#pragma warning restore CA1031
    }

    /// <summary>The one write of the report: qmail's bytes into a pipe, one readable line per report on a terminal.</summary>
    private static void Write(DeliveryReport report, IReadOnlyList<string> positional)
    {
        try
        {
            using var output = Console.OpenStandardOutput();
            if (!Console.IsOutputRedirected)
            {
                var recipients = positional.Count >= 3 ? positional.Skip(2).ToList() : [];
                output.Write(System.Text.Encoding.UTF8.GetBytes(ReportWriter.FormatForTerminal(report, recipients)));
            }
            else
            {
                output.Write(ReportWriter.Format(report));
            }

            output.Flush();
        }
#pragma warning disable CA1031 // stdout is gone (qmail-rspawn died, a broken pipe): nobody is left to tell, and exit 0 stands.
        catch (Exception)
        {
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
