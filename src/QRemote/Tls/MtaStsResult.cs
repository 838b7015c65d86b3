namespace QRemote.Tls;

/// <summary>What <see cref="MtaStsResolver.GetPolicyAsync"/> found.</summary>
/// <param name="Policy">The policy to apply, or null for none. A policy whose mode is
/// <see cref="MtaStsMode.None"/> is returned as such: the caller treats it as no policy.</param>
/// <param name="Detail">One line for the log, saying where the policy came from or why there is none.</param>
internal sealed record MtaStsResult(MtaStsPolicy? Policy, string Detail)
{
    /// <summary>For TLS reporting: the domain has an MTA-STS record but no policy could be applied, and why (fetch error,
    /// invalid policy, policy host's certificate); null otherwise.</summary>
    public TlsReportResult? Failure { get; init; }
}
