using System.Security.Cryptography.X509Certificates;
using QRemote.Dns;
using QRemote.Qmail;
using QRemote.Tls;

namespace QRemote.Delivery;

/// <summary>Connects <see cref="MtaStsResolver"/> to a delivery: the policy found, as the TLS policy needs it.</summary>
internal static class MtaStsRequirement
{
    /// <summary>A fetch of a policy is bounded by this much of a delivery (RFC 8461 suggests a minute; a sender
    /// waiting on an unreachable policy host for that long, every delivery, is worse than a deferral's retry).</summary>
    public static readonly TimeSpan FetchTimeout = TimeSpan.FromSeconds(20);

    /// <summary>The <see cref="DeliveryOptions.MtaSts"/> hook for a configuration.</summary>
    /// <param name="roots">The WebPKI roots, read on first need.</param>
    /// <param name="keepPolicies">Use the policy cache (a delivery); false: fetch afresh and keep nothing (<c>--plan</c>,
    /// which a person may run as another user than qmailr, must leave no file behind).</param>
    public static Func<string, IDnsLookup, CancellationToken, Task<StsRequirement?>> For(QmailConfig config, Lazy<X509Certificate2Collection> roots,
        TimeProvider time, TextWriter? transcript, int httpsPort = 443, bool keepPolicies = true, TlsReportRecorder? tlsReport = null)
    {
        var options = new MtaStsOptions(keepPolicies ? config.MtaStsCacheDirectory : null, [], httpsPort, FetchTimeout) { RootsOnDemand = roots };
        return async (domain, dns, cancellationToken) =>
        {
            var result = await new MtaStsResolver(dns, options, time).GetPolicyAsync(domain, cancellationToken).ConfigureAwait(false);
            transcript?.WriteLine($"mta-sts: {domain}: {result.Detail}");
            if (result.Failure is { } failure && tlsReport is not null)
            {
                await tlsReport.StsDiscoveryFailedAsync(failure).ConfigureAwait(false);
            }

            return result.Policy is not { Mode: not MtaStsMode.None } policy
                ? null
                : new StsRequirement(policy.Mode == MtaStsMode.Enforce, policy.MatchesMx, $"{policy.Mode.ToString().ToLowerInvariant()} for {domain}, id {policy.Id}", roots.Value)
                {
                    PolicyLines = TlsReportPolicy.StsLines(policy),
                };
        };
    }
}
