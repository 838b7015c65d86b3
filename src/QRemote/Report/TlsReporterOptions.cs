using System.Security.Cryptography.X509Certificates;
using QRemote.Dns;

namespace QRemote.Report;

/// <summary>What one <c>qremote --tls-report</c> run works with; tests replace the parts they need.</summary>
internal sealed record TlsReporterOptions
{
    public required string QmailHome { get; init; }

    public required ResolverConfig Resolver { get; init; }

    public required TextWriter Output { get; init; }

    /// <summary>Print the reports and where they would go; send nothing, rotate nothing, remember nothing.</summary>
    public bool DryRun { get; init; }

    /// <summary>Only this day (even today's, so far); null: every completed UTC day not sent yet.</summary>
    public DateOnly? Day { get; init; }

    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>The WebPKI roots an https: destination's certificate must chain to, read when first needed.</summary>
    public Lazy<X509Certificate2Collection> Roots { get; init; } = new(() => QRemote.Tls.SystemTrust.LoadRoots());

    /// <summary>The bound on one HTTPS POST (the MTA-STS fetch's, <see cref="Delivery.MtaStsRequirement.FetchTimeout"/>).</summary>
    public TimeSpan HttpsTimeout { get; init; } = Delivery.MtaStsRequirement.FetchTimeout;

    /// <summary>Days a report keeps being retried before it is given up.</summary>
    public int RetryDays { get; init; } = 7;
}
