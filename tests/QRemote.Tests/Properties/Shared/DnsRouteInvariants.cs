using System.Net;
using System.Net.Sockets;
using QRemote.Dns;
using QRemote.Qmail;
using QRemote.Tests.Infrastructure;

namespace QRemote.Tests.Properties;

/// <summary>
/// From DNS packet bytes to the route: <see cref="MailRouteResolver.ResolveMxAsync"/> over <see cref="ScriptedDns"/>,
/// with every destination enumerated. Holds when:
/// <list type="bullet">
/// <item>nothing throws, and resolution with enumeration ends within <see cref="Bound"/> (a cancellation token
/// of that length is passed; a wall-clock watchdog of twice that catches a loop that never looks at it);</item>
/// <item>the route is destinations, or a failure report (<see cref="Resolution.Failed"/>, or the list's
/// <see cref="DestinationStep.NothingToTry"/> once it yielded nothing), never neither and never both;</item>
/// <item>each destination has a real IPv4 or IPv6 address that is not this host's, port 25, a preference in
/// 0..65535, preferences never decreasing;</item>
/// <item>a failure report has no recipient reports; its letter is D exactly when its text is one of the permanent
/// DNS texts (#5.1.2, #5.1.10, #5.4.4, #5.4.6), Z otherwise;</item>
/// <item>when any answer was a temporary failure (unparseable, SERVFAIL and the like, a question that does
/// not match), the report is not D, unless it is "this host is the best MX" (#5.4.6), which the addresses
/// found before it prove; when the MX answer itself was one, the report is Z;</item>
/// <item>the report's bytes pass <see cref="ReportInvariants"/>.</item>
/// </list>
/// </summary>
internal static class DnsRouteInvariants
{
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(5);

    public const string Domain = "example.test";

    private static readonly string[] PermanentCodes = ["(#5.1.2)", "(#5.1.10)", "(#5.4.4)", "(#5.4.6)"];

    /// <summary>What one run produced, for the tests' own assertions and statistics.</summary>
    public sealed record Outcome(IReadOnlyList<Destination> Destinations, DeliveryReport? Report, IReadOnlyList<ScriptedDns.Asked> Queries);

    public static Outcome Check(DnsScenario scenario)
    {
        var dns = new ScriptedDns(scenario);
        var run = Task.Run(() => RunAsync(dns, scenario.ShuffleSeed));
        if (Task.WaitAny([run], Bound * 2) < 0)
        {
            throw new InvariantException($"resolution did not finish in {(Bound * 2).TotalSeconds} s; {Describe(dns.Log)}");
        }

        try
        {
            var (destinations, report) = run.GetAwaiter().GetResult();
            var outcome = new Outcome(destinations, report, dns.Log);
            Verify(outcome);
            return outcome;
        }
#pragma warning disable CA1031 // Any exception is the finding: it is reported with the answers that caused it.
        catch (Exception e)
#pragma warning restore CA1031
        {
            throw new InvariantException($"{e.GetType().Name}: {e.Message}\n{Describe(dns.Log)}", e);
        }
    }

    /// <summary>The answers as given, in order: <see cref="Replay"/> of these bytes repeats the run.</summary>
    public static string Describe(IReadOnlyList<ScriptedDns.Asked> queries)
    {
        return $"{queries.Count} queries:\n  " + string.Join("\n  ", queries.Take(40)) + (queries.Count > 40 ? "\n  ..." : "");
    }

    /// <summary>A scenario that answers the queries, in order, with exactly these bytes.</summary>
    public static DnsScenario Replay(bool checkQuestion, int shuffleSeed, params string[] hexAnswers)
    {
        return new DnsScenario([.. hexAnswers.Select(h => AnswerSpec.Raw(Hex.Parse(h)))], checkQuestion, shuffleSeed);
    }

    private static async Task<(IReadOnlyList<Destination>, DeliveryReport?)> RunAsync(ScriptedDns dns, int shuffleSeed)
    {
        using var deadline = new CancellationTokenSource(Bound);
        var resolver = new MailRouteResolver(dns, new FixedLocalAddresses(IPAddress.Loopback), new Random(shuffleSeed));
        Resolution resolution;
        try
        {
            resolution = await resolver.ResolveMxAsync(Domain, 25, deadline.Token).ConfigureAwait(false);
            switch (resolution)
            {
                case Resolution.Found found:
                {
                    var (list, nothingToTry) = await found.Destinations.ResolveAllAsync(deadline.Token).ConfigureAwait(false);
                    if (list.Count > 0 && nothingToTry is not null)
                    {
                        throw new InvariantException($"destinations and a failure: {nothingToTry}");
                    }

                    if (list.Count == 0 && nothingToTry is null)
                    {
                        throw new InvariantException("no destination and no failure report");
                    }

                    return (list, nothingToTry);
                }

                case Resolution.Failed failed:
                    return ([], failed.Report);
                default:
                    throw new InvariantException($"unknown resolution {resolution}");
            }
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            throw new InvariantException($"resolution did not finish in {Bound.TotalSeconds} s (cancelled)");
        }
    }

    private static void Verify(Outcome outcome)
    {
        var local = new FixedLocalAddresses(IPAddress.Loopback);
        var previous = -1;
        foreach (var d in outcome.Destinations)
        {
            if (d is null || d.Address is null || d.Address.AddressFamily is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6))
            {
                throw new InvariantException($"not a real address: {d}");
            }

            if (local.IsLocal(d.Address))
            {
                throw new InvariantException($"this host's address {d.Address} is a destination");
            }

            if (d.Port != 25 || d.Preference is < 0 or > 65535 || d.ExchangerName is null)
            {
                throw new InvariantException($"bad destination {d}");
            }

            if (d.Preference < previous)
            {
                throw new InvariantException($"preference {d.Preference} after {previous}");
            }

            previous = d.Preference;
        }

        if (outcome.Report is not { } report)
        {
            return;
        }

        if (report.Recipients.Count != 0)
        {
            throw new InvariantException($"a DNS failure with recipient reports: {report}");
        }

        var permanent = PermanentCodes.Any(c => report.Text.Contains(c, StringComparison.Ordinal));
        var expected = permanent ? MessageLetter.Failed : MessageLetter.Deferred;
        if (report.Letter != expected)
        {
            throw new InvariantException($"letter {(char)report.Letter} for \"{report.Text}\" (expected {(char)expected})");
        }

        if (outcome.Queries.Count > 0 && outcome.Queries[0].Status == DnsStatus.TemporaryFailure && report.Letter != MessageLetter.Deferred)
        {
            throw new InvariantException($"the MX answer was a temporary failure ({outcome.Queries[0].Detail}) but the report is {(char)report.Letter}: {report.Text}");
        }

        if (report.Letter == MessageLetter.Failed
            && !report.Text.Contains("(#5.4.6)", StringComparison.Ordinal)
            && outcome.Queries.FirstOrDefault(q => q.Status == DnsStatus.TemporaryFailure) is { } soft)
        {
            throw new InvariantException($"a temporary failure ({soft.Name} {soft.Type}: {soft.Detail}) ended in D: {report.Text}");
        }

        ReportInvariants.CheckBytes(report, ReportWriter.Format(report));
    }
}
