namespace QRemote.Tls;

/// <summary>An MTA-STS policy's <c>mode</c> (RFC 8461 section 5).</summary>
internal enum MtaStsMode
{
    /// <summary>The domain withdrew its policy: the caller treats it as no policy at all.</summary>
    None,
    /// <summary>Failures are to be reported (TLSRPT), never acted on: deliver as without a policy.</summary>
    Testing,
    /// <summary>Only MX hosts matching the policy, with STARTTLS and a certificate that verifies for their name.</summary>
    Enforce,
}
