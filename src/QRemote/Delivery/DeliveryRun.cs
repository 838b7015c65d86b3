using System.Globalization;
using QRemote.Dns;
using QRemote.Logging;
using QRemote.Message;
using QRemote.Qmail;
using Serilog.Events;

namespace QRemote.Delivery;

/// <summary>
/// One delivery of an open message, assembled from its settings, with its transcript, trace and log: the one place
/// a delivery is put together, for the process delivering by itself and for the daemon alike.
/// </summary>
internal static class DeliveryRun
{
    public static async Task<DeliveryReport> RunAsync(CommandLine command, Invocation invocation, QmailConfig config, MessageSource message,
        SharedServices? shared, CancellationToken cancellationToken)
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
        var tlsReport = QRemote.Tls.TlsReportTarget.Load(command.QmailHome) is { } target ? new QRemote.Tls.TlsReportRecorder(target, TimeProvider.System) : null;
        var options = new DeliveryOptions
        {
            Config = config,
            Resolver = ResolverConfig.Load(command.ResolvConf),
            SmtpPort = command.SmtpPort,
            Transcript = transcript,
            Trace = trace,
            QmailHome = command.QmailHome, // tcpto: queue/lock/tcpto, as netqmail's
            MtaSts = MtaStsRequirement.For(config, new Lazy<System.Security.Cryptography.X509Certificates.X509Certificate2Collection>(() => QRemote.Tls.SystemTrust.LoadRoots()),
                TimeProvider.System, transcript, command.HttpsPort, tlsReport: tlsReport),
            TlsReport = tlsReport,
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

    /// <summary>The control files, or the report that says they could not be read.</summary>
    public static QmailConfig? LoadConfig(string qmailHome, out DeliveryReport? failure)
    {
        try
        {
            failure = null;
            return QmailConfig.Load(new ControlFiles(Path.Combine(qmailHome, "control")));
        }
        catch (ControlFileException)
        {
            failure = Reports.UnableToReadControlFiles();
            return null;
        }
    }

    /// <summary>The log settings; none when the file is missing or unreadable (logging never defers mail).</summary>
    public static LogSettings? LoadLogSettings(string qmailHome)
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
}
