namespace QRemote.Tls;

/// <summary>What <see cref="MtaStsResolver.GetPolicyAsync"/> found.</summary>
/// <param name="Policy">The policy to apply, or null for none. A policy whose mode is
/// <see cref="MtaStsMode.None"/> is returned as such: the caller treats it as no policy.</param>
/// <param name="Detail">One line for the log, saying where the policy came from or why there is none.</param>
internal sealed record MtaStsResult(MtaStsPolicy? Policy, string Detail);
