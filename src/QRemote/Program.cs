using System.Reflection;
using System.Globalization;
using QRemote.Delivery;
using QRemote.Logging;
using Serilog.Events;
using QRemote.Dns;
using QRemote.Message;
using QRemote.Qmail;

namespace QRemote;

/// <summary>
/// The process contract: argv and stdin in, one report out, exit 0 on every path. qmail-rspawn
/// turns any other exit code but 111 into a permanent bounce, and joins our stderr to the report
/// pipe, so nothing but the report is written unless a person asked for more.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        DeliveryReport report;
        var output = Console.OpenStandardOutput();
        var terminal = !Console.IsOutputRedirected;
        CommandLine command = new();
        try
        {
            command = CommandLine.Parse(args, Environment.GetEnvironmentVariable);
            if (command.Help || command.Version || command.ShowConfig || command.Error is not null)
            {
                return RunForPerson(command);
            }

            report = RunAsync(command, CancellationToken.None).GetAwaiter().GetResult();
        }
        catch (OutOfMemoryException)
        {
            report = Reports.OutOfMemory();
        }
#pragma warning disable CA1031 // The contract: every failure becomes one Z report, never a crash.
        catch (Exception e)
        {
            if (command.Verbose)
            {
                Console.Error.WriteLine($"qremote: unexpected failure: {e}");
            }

            report = DeliveryReport.MessageOnly(MessageLetter.Deferred, "QRemote failed unexpectedly; the delivery will be retried. (#4.3.0)\n");
        }
#pragma warning restore CA1031

        try
        {
            if (terminal)
            {
                var recipients = command.Positional.Count >= 3 ? command.Positional.Skip(2).ToList() : [];
                var bytes = System.Text.Encoding.UTF8.GetBytes(ReportWriter.FormatForTerminal(report, recipients));
                output.Write(bytes);
            }
            else
            {
                output.Write(ReportWriter.Format(report));
            }

            output.Flush();
        }
        catch (IOException)
        {
            // stdout is gone (qmail-rspawn died): nobody is left to tell.
        }

        return 0;
    }

    public static async Task<DeliveryReport> RunAsync(CommandLine command, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(command);
        var invocation = Invocation.FromPositional(command.Positional);
        if (invocation is null)
        {
            return Reports.InvokedImproperly();
        }

        QmailConfig config;
        try
        {
            config = QmailConfig.Load(new ControlFiles(Path.Combine(command.QmailHome, "control")));
        }
        catch (ControlFileException)
        {
            return Reports.UnableToReadControlFiles();
        }

        MessageSource message;
        try
        {
            message = await MessageSource.OpenStandardInputAsync(Environment.GetEnvironmentVariable("TMPDIR"), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Reports.UnableToReadMessage();
        }

        await using (message.ConfigureAwait(false))
        {
            var log = LoadLogSettings(command.QmailHome);
            var debugTranscript = log?.Level <= LogEventLevel.Debug ? new StringWriter(CultureInfo.InvariantCulture) : null;
            TextWriter? transcript = (command.Verbose, debugTranscript) switch
            {
                (true, not null) => new TeeWriter(Console.Error, debugTranscript),
                (true, null) => Console.Error,
                (false, not null) => debugTranscript,
                _ => null,
            };
            var trace = log is null ? null : new DeliveryTrace();
            var started = TimeProvider.System.GetTimestamp();
            var options = new DeliveryOptions
            {
                Config = config,
                Resolver = ResolverConfig.Load(command.ResolvConf),
                SmtpPort = command.SmtpPort,
                Transcript = transcript,
                Trace = trace,
            };
            DeliveryReport report;
            try
            {
                report = await Deliverer.DeliverAsync(invocation, message, options, cancellationToken).ConfigureAwait(false);
            }
            catch (IOException)
            {
                // Reading the message failed part-way (the file, not the connection).
                report = Reports.UnableToReadMessage();
            }

            if (log is not null)
            {
                DeliveryLog.Write(log, invocation, report, trace!, TimeProvider.System.GetElapsedTime(started), debugTranscript?.ToString());
            }

            return report;
        }
    }

    /// <summary>The log settings; none when the file is missing or unreadable (logging never defers mail).</summary>
    private static LogSettings? LoadLogSettings(string qmailHome)
    {
        try
        {
            return LogSettings.Load(new ControlFiles(Path.Combine(qmailHome, "control")));
        }
        catch (ControlFileException)
        {
            return null;
        }
    }

    private static int RunForPerson(CommandLine command)
    {
        var stdout = Console.Out;
        if (command.Error is not null)
        {
            // Only a person passes -- options; qmail-rspawn never does. Still: exit 0 and a Z report,
            // so a mistaken wrapper defers mail instead of bouncing it.
            Console.Error.WriteLine($"qremote: {command.Error}\n\n{CommandLine.Usage}");
            var report = ReportWriter.Format(DeliveryReport.MessageOnly(MessageLetter.Deferred, $"QRemote: {command.Error}. (#4.3.0)\n"));
            using var output = Console.OpenStandardOutput();
            output.Write(report);
            return 0;
        }

        if (command.Help)
        {
            stdout.WriteLine(CommandLine.Usage);
        }
        else if (command.Version)
        {
            stdout.WriteLine($"qremote {typeof(Program).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "?"}");
        }
        else if (command.ShowConfig)
        {
            var control = Path.Combine(command.QmailHome, "control");
            stdout.WriteLine($"qmail home: {command.QmailHome}");
            try
            {
                foreach (var s in QmailConfig.Load(new ControlFiles(control)).Settings)
                {
                    stdout.WriteLine($"{s.Name,-22} {s.Value}  ({s.Source})");
                }
            }
            catch (ControlFileException e)
            {
                stdout.WriteLine($"error: {e.Message}");
            }

            var resolver = ResolverConfig.Load(command.ResolvConf);
            stdout.WriteLine($"{"nameservers",-22} {string.Join(" ", resolver.Servers)}  (from {command.ResolvConf})");
            stdout.WriteLine($"{"dns timeout",-22} {resolver.Timeout.TotalSeconds}s x {resolver.Attempts} attempts");
        }

        return 0;
    }
}
