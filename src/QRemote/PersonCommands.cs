using System.Reflection;
using QRemote.Delivery;
using QRemote.Dns;
using QRemote.Qmail;

namespace QRemote;

/// <summary>
/// What <c>qremote</c> (the person's name for the program) does besides delivering: <c>--help</c>, <c>--version</c>,
/// <c>--show-config</c>, <c>--plan</c>, and an option it cannot read. None of these is reachable as
/// <c>qmail-remote</c>, where argv is positions only (<see cref="ProgramRole"/>).
/// </summary>
internal static class PersonCommands
{
    public static bool Wanted(CommandLine command) =>
        command.Help || command.Version || command.ShowConfig || command.Plan || command.TlsReport || command.SelfTest || command.Error is not null;

    public static int Run(CommandLine command)
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

            var report = ReportWriter.Format(Reports.BadSetting(command.Error));
            using var output = Console.OpenStandardOutput();
            output.Write(report);
            return 0;
        }

        if (command.Help)
        {
            stdout.WriteLine(CommandLine.Usage);
        }
        else if (command.SelfTest)
        {
            return SelfTest.Run(command, stdout);
        }
        else if (command.TlsReport)
        {
            return Report.TlsReporter.RunAsync(new Report.TlsReporterOptions
            {
                QmailHome = command.QmailHome, Resolver = ResolverConfig.Load(command.ResolvConf), Output = stdout, DryRun = command.DryRun, Day = command.Day,
            }, CancellationToken.None).GetAwaiter().GetResult();
        }
        else if (command.Plan)
        {
            PlanAsync(command, stdout).GetAwaiter().GetResult();
        }
        else if (command.Version)
        {
            stdout.WriteLine($"qremote {typeof(PersonCommands).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "?"}");
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

            var log = DeliveryRun.LoadLogSettings(command.QmailHome);
            stdout.WriteLine($"{"qremote-log",-22} {(log is null ? "(no log)" : $"{log.Path} {log.Level}")}  ({(log is null ? "default" : "file")})");
            var resolver = ResolverConfig.Load(command.ResolvConf);
            stdout.WriteLine($"{"nameservers",-22} {string.Join(" ", resolver.Servers)}  (from {command.ResolvConf})");
            stdout.WriteLine($"{"dns timeout",-22} {resolver.Timeout.TotalSeconds}s x {resolver.Attempts} attempts");
            stdout.WriteLine($"{"dnssec",-22} {resolver.AdTrust.Describe()}");
        }

        return 0;
    }

    /// <summary>--plan: what a delivery to the host would do, up to the connection.</summary>
    internal static async Task PlanAsync(CommandLine command, TextWriter stdout)
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
        stdout.WriteLine($"dnssec:      {resolverConfig.AdTrust.Describe()}");
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
        var (destinations, nothingToTry) = await found.Destinations.ResolveAllAsync(CancellationToken.None).ConfigureAwait(false);
        if (destinations.Count == 0)
        {
            var report = nothingToTry ?? Reports.NoAddress();
            stdout.WriteLine($"result:      {(char)report.Letter} {ReportText.Sanitize(report.Text).TrimEnd()}");
            return;
        }

        stdout.WriteLine("addresses, in the order they would be tried (equal preferences are shuffled anew each delivery):");
        foreach (var d in destinations)
        {
            var secure = found.Route.ByMx ? (d.MxSecure ? "  DNSSEC: secure (AD)" : "  DNSSEC: insecure") : "";
            stdout.WriteLine($"  {d.Address,-40} port {d.Port,-5} {d.ExchangerName} (preference {d.Preference}){secure}");
        }

        await PlanTlsAsync(command, config, host, route, found.Route, dns, resolver, destinations, stdout).ConfigureAwait(false);
        if (command.Positional.Count > 1 && config.CanonicalizeRecipients && route is null)
        {
            var recipient = command.Positional[1];
            var domain = EnvelopeAddress.Domain(recipient);
            var canonical = domain is null ? null : await resolver.CanonicalNameAsync(domain, CancellationToken.None).ConfigureAwait(false);
            stdout.WriteLine($"recipient:   {ReportText.Sanitize(recipient)} -> {(canonical is null ? "(temporary DNS failure)" : ReportText.Sanitize(recipient[..^domain!.Length] + canonical))}");
        }
    }

    /// <summary>The TLS policy a delivery would apply to each exchanger, decided by the delivery's own
    /// <see cref="TlsPolicyResolver"/> (tlshosts, notlshosts, DANE, MTA-STS, smtproutes credentials, else opportunistic).</summary>
    private static async Task PlanTlsAsync(CommandLine command, QmailConfig config, string host, SmtpRoute? route, RouteKind kind, DnsLookup dns,
        MailRouteResolver resolver, IReadOnlyList<Destination> destinations, TextWriter stdout)
    {
        var sts = route is not null || kind != RouteKind.Mx ? null
            : await MtaStsRequirement.For(config, new Lazy<System.Security.Cryptography.X509Certificates.X509Certificate2Collection>(() => QRemote.Tls.SystemTrust.LoadRoots()),
                TimeProvider.System, command.Verbose ? stdout : null, command.HttpsPort, keepPolicies: false)(host, dns, CancellationToken.None).ConfigureAwait(false);
        var policies = new TlsPolicyResolver(Path.Combine(command.QmailHome, "control"), resolver, kind, tlsRequiredNo: false, sts, route);
        stdout.WriteLine("tls:         the policy each exchanger gets (docs/tls.md; a message with TLS-Required: No waives DANE and MTA-STS):");
        foreach (var exchanger in destinations.GroupBy(d => d.ExchangerName, StringComparer.OrdinalIgnoreCase))
        {
            var policy = await policies.ForAsync(exchanger.First(), CancellationToken.None).ConfigureAwait(false);
            stdout.WriteLine($"  {ReportText.Sanitize(exchanger.Key)}: {policy.Mode} ({ReportText.Sanitize(policy.Why)})");
        }
    }
}
