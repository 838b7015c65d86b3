using System.Security.Cryptography.X509Certificates;

namespace QRemote.Delivery;

/// <summary>An MTA-STS policy in force for the recipient domain, as the TLS policy needs it.</summary>
/// <param name="Enforce">enforce (else testing: only logged).</param>
/// <param name="MatchesMx">Whether an exchanger name is one of the policy's <c>mx</c> patterns.</param>
/// <param name="Why">For reports and the log: the domain, the mode, the policy id.</param>
/// <param name="Roots">The WebPKI roots a certificate must chain to.</param>
internal sealed record StsRequirement(bool Enforce, Func<string, bool> MatchesMx, string Why, X509Certificate2Collection Roots)
{
    /// <summary>The policy as lines (RFC 8460 4.4's policy-string for TLS reporting).</summary>
    public IReadOnlyList<string> PolicyLines { get; init; } = [];
}
