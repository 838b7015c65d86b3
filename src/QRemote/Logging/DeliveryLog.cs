using System.Text.RegularExpressions;
using QRemote.Delivery;
using QRemote.Qmail;
using Serilog;
using Serilog.Events;
using Serilog.Formatting.Compact;
using Serilog.Parsing;

namespace QRemote.Logging;

/// <summary>
/// The one structured event per delivery, as a JSON line (Serilog's compact format): the host
/// argument, sender, each recipient with its letter, the route, every address tried, the server's
/// reply and enhanced code, per-phase times, the final letter. At debug level the SMTP transcript
/// and the DNS steps come with it. Serilog is only built when <c>control/qremote-log</c> asks for
/// a log: an unlogged delivery pays nothing for it.
/// </summary>
internal static partial class DeliveryLog
{
    private static readonly MessageTemplate Template =
        new MessageTemplateParser().Parse("{Host} {Letter} via {Address}: {Summary}");

    public static void Write(LogSettings settings, Invocation invocation, DeliveryReport report, DeliveryTrace trace, TimeSpan total, string? transcript)
    {
        try
        {
            using var sink = new AppendFileSink(settings.Path, new CompactJsonFormatter());
            using var logger = new LoggerConfiguration().MinimumLevel.Is(settings.Level).WriteTo.Sink(sink).CreateLogger();
            logger.Write(Build(settings.Level, invocation, report, trace, total, transcript));
        }
#pragma warning disable CA1031 // Logging never changes an outcome.
        catch (Exception)
        {
        }
#pragma warning restore CA1031
    }

    /// <summary>The event itself (public for tests).</summary>
    public static LogEvent Build(LogEventLevel level, Invocation invocation, DeliveryReport report, DeliveryTrace trace, TimeSpan total, string? transcript)
    {
        var last = trace.Attempts.Count > 0 ? trace.Attempts[^1] : null;
        var text = ReportText.Sanitize(report.Text);
        var properties = new List<LogEventProperty>
        {
            new("Host", new ScalarValue(ReportText.Sanitize(invocation.Host))),
            new("Sender", new ScalarValue(ReportText.Sanitize(invocation.Sender))),
            new("Recipients", new SequenceValue(invocation.Recipients.Select((r, i) => new StructureValue(
            [
                new LogEventProperty("Address", new ScalarValue(ReportText.Sanitize(r))),
                new LogEventProperty("Letter", new ScalarValue(i < report.Recipients.Count ? ((char)report.Recipients[i].Letter).ToString() : null)),
                new LogEventProperty("Text", new ScalarValue(i < report.Recipients.Count && report.Recipients[i].Text.Length > 0 ? ReportText.Sanitize(report.Recipients[i].Text) : null)),
            ])))),
            new("Route", new ScalarValue(trace.Route)),
            new("MxSecure", new ScalarValue(trace.MxSecure)),
            new("Attempts", new SequenceValue(trace.Attempts.Select(a => new StructureValue(
            [
                new LogEventProperty("Address", new ScalarValue(a.Address.ToString())),
                new LogEventProperty("Port", new ScalarValue(a.Port)),
                new LogEventProperty("Exchanger", new ScalarValue(a.Exchanger)),
                new LogEventProperty("Preference", new ScalarValue(a.Preference)),
                new LogEventProperty("Outcome", new ScalarValue(a.Outcome)),
            ])))),
            new("Address", new ScalarValue(last?.Address.ToString())),
            new("Exchanger", new ScalarValue(last?.Exchanger)),
            new("Tls", new ScalarValue(trace.Tls)),
            new("Reply", new ScalarValue(ServerReply(text))),
            new("EnhancedCode", new ScalarValue(EnhancedCode(text))),
            new("Delays", new StructureValue(
            [
                new LogEventProperty("Dns", new ScalarValue(Ms(trace.Dns))),
                new LogEventProperty("Connect", new ScalarValue(Ms(trace.Connect))),
                new LogEventProperty("Transaction", new ScalarValue(Ms(trace.Transaction))),
                new LogEventProperty("Total", new ScalarValue(Ms(total))),
            ])),
            new("Letter", new ScalarValue(((char)report.Letter).ToString())),
            new("Text", new ScalarValue(text)),
            new("Summary", new ScalarValue(text.Split('\n')[0])),
            new("Pid", new ScalarValue(Environment.ProcessId)),
        };
        if (level <= LogEventLevel.Debug && transcript is not null)
        {
            properties.Add(new LogEventProperty("Transcript", new ScalarValue(ReportText.Sanitize(transcript))));
        }

        var eventLevel = report.Letter switch
        {
            MessageLetter.Delivered => LogEventLevel.Information,
            MessageLetter.Deferred => LogEventLevel.Warning,
            _ => LogEventLevel.Error,
        };
        return new LogEvent(DateTimeOffset.Now, eventLevel, null, Template, properties);
    }

    private static double Ms(TimeSpan t) => Math.Round(t.TotalMilliseconds, 1);

    /// <summary>The server's lines from a report text (after <c>Remote host said: </c>), or null.</summary>
    private static string? ServerReply(string text)
    {
        var at = text.IndexOf("Remote host said: ", StringComparison.Ordinal);
        if (at < 0)
        {
            return null;
        }

        // A K text ends in its TLS line (Reports.TlsVerified and the rest), which is ours, not the server's: every line
        // the server said starts with its code, so "\nTLS: " can only be that line. The log has it in the Tls field.
        var reply = text[(at + "Remote host said: ".Length)..];
        var tls = reply.IndexOf("\nTLS: ", StringComparison.Ordinal);
        return (tls < 0 ? reply : reply[..tls]).TrimEnd('\n');
    }

    private static string? EnhancedCode(string text)
    {
        var reply = ServerReply(text);
        var match = reply is null ? null : EnhancedCodePattern().Match(reply);
        return match is { Success: true } ? match.Groups[1].Value : null;
    }

    [GeneratedRegex(@"^[245]\d\d[ -]([245]\.\d{1,3}\.\d{1,3})\b", RegexOptions.CultureInvariant)]
    private static partial Regex EnhancedCodePattern();
}
