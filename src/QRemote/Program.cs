using System.Reflection;
using System.Globalization;
using System.Runtime.InteropServices;
using QRemote.Daemon;
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
        if (!StandardOutput.IsWritable())
        {
            // Nobody could hear the outcome: delivering would risk a duplicate (qmail-rspawn reports
            // "no output" as Z and qmail-send tries again). netqmail also stops at its first failed write.
            return 0;
        }

        // Before anything else can touch TLS: keep .NET from reading the whole system trust store on each
        // handshake (see SystemTrust).
        QRemote.Tls.SystemTrust.Hide();
        var output = Console.OpenStandardOutput();
        var terminal = !Console.IsOutputRedirected;
        CommandLine command = new();

        // SIGTERM (an operator stopping qmail, a supervisor) and SIGINT (^C) cancel the delivery: it ends
        // with a Z report, "Possible duplicate!" if the final dot was already sent, and exit 0.
        using var stop = new CancellationTokenSource();
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        void Stop(PosixSignalContext context)
        {
            context.Cancel = true;
            stop.Cancel();
        }

        try
        {
            command = CommandLine.Parse(args, Environment.GetEnvironmentVariable, WorkingDirectory());
            if (command.Daemon && command.Error is null)
            {
                return DaemonServer.Run(command, stop.Token);
            }

            if (command.Help || command.Version || command.ShowConfig || command.Plan || command.Error is not null)
            {
                return RunForPerson(command);
            }

            report = RunAsync(command, stop.Token).GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            report = Reports.Stopped();
        }
        catch (OutOfMemoryException)
        {
            report = Reports.OutOfMemory();
        }
        catch (System.Net.NetworkInformation.NetworkInformationException)
        {
            // This host's addresses could not be listed, so an MX pointing here could not be recognized.
            report = Reports.ResourcesUnavailable();
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
#pragma warning disable CA1031 // stdout is gone (qmail-rspawn died, a broken pipe): nobody is left to tell, and exit 0 stands.
        catch (Exception)
        {
        }
#pragma warning restore CA1031

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

        if (!MailRouteResolver.TryLiteral(invocation.Host, out _))
        {
            // DNS will be needed: its parser's one-time set-up goes on in parallel (DnsTransport.WarmUp).
            DnsTransport.WarmUp();
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

        // The resident daemon, when the operator runs one (control/qremote-daemon): it gets the message's file
        // descriptor and the arguments, and delivers over a cached connection. Anything short of its report, before
        // the message went out, and the delivery happens here instead.
        if (DaemonSocket(command) is { } socketPath && StandardInputOffset() is { } start)
        {
            var handed = await DaemonClient.DeliverAsync(socketPath, ForwardedArguments(command), 0, start, cancellationToken).ConfigureAwait(false);
            switch (handed.Outcome)
            {
                case DaemonOutcome.Reported:
                    return handed.Report!;
                case DaemonOutcome.Unknown:
                    return Reports.DaemonOutcomeUnknown();
            }
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
            return await DeliverAsync(command, invocation, config, message, null, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>What the daemon shares between deliveries; null for a delivery of its own.</summary>
    internal sealed record SharedServices(DnsCache Dns, ConnectionCache Connections, Func<Task>? BeforeBody);

    /// <summary>One delivery of an open message, with its log: the process's own, or one of the daemon's.</summary>
    internal static async Task<DeliveryReport> DeliverAsync(CommandLine command, Invocation invocation, QmailConfig config, MessageSource message,
        SharedServices? shared, CancellationToken cancellationToken)
    {
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
            var trace = log is null && !command.Verbose ? null : new DeliveryTrace();
            var started = TimeProvider.System.GetTimestamp();
            var options = new DeliveryOptions
            {
                Config = config,
                Resolver = ResolverConfig.Load(command.ResolvConf),
                SmtpPort = command.SmtpPort,
                Transcript = transcript,
                Trace = trace,
                QmailHome = command.QmailHome, // tcpto: queue/lock/tcpto, as netqmail's
                MtaSts = MtaStsRequirement.For(config, new Lazy<System.Security.Cryptography.X509Certificates.X509Certificate2Collection>(() => QRemote.Tls.SystemTrust.LoadRoots()),
                    TimeProvider.System, transcript, command.HttpsPort),
                DnsCache = shared?.Dns,
                Connections = shared?.Connections,
                BeforeBody = shared?.BeforeBody,
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

            var total = TimeProvider.System.GetElapsedTime(started);
            if (command.Verbose && trace is not null)
            {
                // The same stopwatch trace the log's Delays field has, for a person looking for where the time goes.
                transcript?.WriteLine(FormattableString.Invariant(
                    $"timing: dns {trace.Dns.TotalMilliseconds:0.0} ms, connect {trace.Connect.TotalMilliseconds:0.0} ms, transaction {trace.Transaction.TotalMilliseconds:0.0} ms, delivery {total.TotalMilliseconds:0.0} ms"));
            }

            if (log is not null)
            {
                DeliveryLog.Write(log, invocation, report, trace!, total, debugTranscript?.ToString());
            }

            return report;
        }
    }

    /// <summary>The daemon's socket, when the operator runs one: control/qremote-daemon exists (its first line, if any,
    /// is the socket's path). Null: no daemon, and not even a connection attempt.</summary>
    internal static string? DaemonSocket(CommandLine command)
    {
        if (command.Verbose && !command.Daemon)
        {
            // A person asking for the transcript wants this delivery's own dialogue on their terminal.
            return null;
        }

        try
        {
            var control = new ControlFiles(Path.Combine(command.QmailHome, "control"));
            if (!control.Exists("qremote-daemon"))
            {
                return null;
            }

            return command.Socket ?? (control.ReadLine("qremote-daemon") is { Length: > 0 } path ? path : CommandLine.DefaultSocket);
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

    /// <summary>The arguments the daemon needs to deliver as this process would: its settings, spelt out, then argv.</summary>
    private static List<string> ForwardedArguments(CommandLine command) =>
    [
        $"--qmail-home={command.QmailHome}", $"--resolv-conf={command.ResolvConf}",
        FormattableString.Invariant($"--smtp-port={command.SmtpPort}"), FormattableString.Invariant($"--https-port={command.HttpsPort}"),
        "--", .. command.Positional,
    ];

    /// <summary>--plan: what a delivery to the host would do, up to the connection.</summary>
    private static async Task PlanAsync(CommandLine command, TextWriter stdout)
    {
        if (command.Positional.Count < 1)
        {
            stdout.WriteLine("usage: qremote --plan HOST [RECIPIENT]");
            return;
        }

        var host = command.Positional[0];
        QmailConfig config;
        try
        {
            config = QmailConfig.Load(new ControlFiles(Path.Combine(command.QmailHome, "control")));
        }
        catch (ControlFileException e)
        {
            stdout.WriteLine($"control files: {e.Message}");
            return;
        }

        var resolverConfig = ResolverConfig.Load(command.ResolvConf);
        stdout.WriteLine($"host:        {ReportText.Sanitize(host)}");
        stdout.WriteLine($"nameservers: {string.Join(" ", resolverConfig.Servers)} (from {command.ResolvConf})");
        var route = config.Routes.Find(host);
        var dns = new DnsLookup(resolverConfig);
        var resolver = new MailRouteResolver(dns, new HostLocalAddresses(), Random.Shared) { Transcript = command.Verbose ? stdout : null };
        var resolution = route is not null
            ? await resolver.ResolveRelayAsync(route, CancellationToken.None).ConfigureAwait(false)
            : await resolver.ResolveMxAsync(host, command.SmtpPort, CancellationToken.None).ConfigureAwait(false);
        if (resolution is Resolution.Failed failed)
        {
            stdout.WriteLine($"route:       {(route is null ? "MX" : $"smtproutes relay {route}")}");
            stdout.WriteLine($"result:      {(char)failed.Report.Letter} {ReportText.Sanitize(failed.Report.Text).TrimEnd()}");
            return;
        }

        var found = (Resolution.Found)resolution;
        stdout.WriteLine($"route:       {found.Route}{(route is null ? "" : $" relay {route}")}");
        var destinations = await found.Destinations.ToListAsync(CancellationToken.None).ConfigureAwait(false);
        if (destinations.Count == 0)
        {
            var report = found.Destinations.Failure ?? Reports.NoAddress();
            stdout.WriteLine($"result:      {(char)report.Letter} {ReportText.Sanitize(report.Text).TrimEnd()}");
            return;
        }

        stdout.WriteLine("addresses, in the order they would be tried (equal preferences are shuffled anew each delivery):");
        foreach (var d in destinations)
        {
            var secure = found.Route.Contains("MX", StringComparison.Ordinal) ? (d.MxSecure ? "  DNSSEC: secure (AD)" : "  DNSSEC: insecure") : "";
            stdout.WriteLine($"  {d.Address,-40} port {d.Port,-5} {d.ExchangerName} (preference {d.Preference}){secure}");
        }

        stdout.WriteLine("tls:         opportunistic: STARTTLS when the server offers it, TLS 1.2 or newer, certificate not verified");
        stdout.WriteLine("             (no policy asks for more yet); a failed handshake is retried once without TLS");
        if (command.Positional.Count > 1 && config.CanonicalizeRecipients && route is null)
        {
            var recipient = command.Positional[1];
            var domain = EnvelopeAddress.Domain(recipient);
            var canonical = domain is null ? null : await resolver.CanonicalNameAsync(domain, CancellationToken.None).ConfigureAwait(false);
            stdout.WriteLine($"recipient:   {ReportText.Sanitize(recipient)} -> {(canonical is null ? "(temporary DNS failure)" : ReportText.Sanitize(recipient[..^domain!.Length] + canonical))}");
        }
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
            // so a mistaken wrapper defers mail instead of bouncing it. The usage goes to a person's
            // terminal only: under qmail-rspawn stderr shares the report's pipe, and text before the
            // report would turn the Z into a bounce.
            if (!Console.IsOutputRedirected)
            {
                Console.Error.WriteLine($"qremote: {command.Error}\n\n{CommandLine.Usage}");
            }

            var report = ReportWriter.Format(DeliveryReport.MessageOnly(MessageLetter.Deferred, $"QRemote: {command.Error}. (#4.3.0)\n"));
            using var output = Console.OpenStandardOutput();
            output.Write(report);
            return 0;
        }

        if (command.Help)
        {
            stdout.WriteLine(CommandLine.Usage);
        }
        else if (command.Plan)
        {
            PlanAsync(command, stdout).GetAwaiter().GetResult();
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

            var log = LoadLogSettings(command.QmailHome);
            stdout.WriteLine($"{"qremote-log",-22} {(log is null ? "(no log)" : $"{log.Path} {log.Level}")}  ({(log is null ? "default" : "file")})");
            var resolver = ResolverConfig.Load(command.ResolvConf);
            stdout.WriteLine($"{"nameservers",-22} {string.Join(" ", resolver.Servers)}  (from {command.ResolvConf})");
            stdout.WriteLine($"{"dns timeout",-22} {resolver.Timeout.TotalSeconds}s x {resolver.Attempts} attempts");
        }

        return 0;
    }
}
