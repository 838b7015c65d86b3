namespace QRemote.Tls;

/// <summary>
/// The TLS policy from the control files of qmail's TLS patch, the ones operators already have:
/// <c>control/notlshosts/HOST</c> (any content) turns TLS off for HOST; <c>control/tlshosts/HOST.pem</c>
/// requires TLS to HOST, verified against the CA certificates in that file, with HOST in the
/// certificate. HOST is the exchanger's name as QRemote connects to it (the MX name, the smtproutes
/// relay, or the literal), lower case, without a final dot. Anything else is opportunistic, unless
/// DANE or MTA-STS says more (<see cref="Delivery.TlsPolicyResolver"/>).
/// </summary>
internal sealed record TlsPolicy(TlsMode Mode, string? CaFile, string Why)
{
    /// <summary>DANE: the exchanger's TLSA records (all of them; <see cref="TlsaAssociation.Usable"/> picks).</summary>
    public IReadOnlyList<TlsaAssociation> Tlsa { get; init; } = [];

    /// <summary>DANE: the names a DANE-TA certificate may carry, the TLSA base domain first (where the TLSA records
    /// were found: a secure alias's target, else the MX name itself), then the other one. The first is also the SNI
    /// name (RFC 7672 8.1).</summary>
    public IReadOnlyList<string> DaneNames { get; init; } = [];

    /// <summary>MTA-STS: the WebPKI roots the certificate must chain to.</summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate2Collection? Roots { get; init; }

    /// <summary>DANE and MTA-STS: what the policy's sessions are recorded under for TLS reporting (RFC 8460); null for the
    /// operator's own files and opportunistic TLS, which are not reported.</summary>
    public TlsReportPolicy? Report { get; init; }

    /// <summary>TLS or nothing: no plain-text retry, a missing STARTTLS is a failure of this address.</summary>
    public bool Required => Mode is TlsMode.Verified or TlsMode.Dane or TlsMode.MtaSts;

    /// <summary>The certificate is checked: tlshosts, MTA-STS, and DANE with at least one usable TLSA record. DANE whose
    /// secure TLSA records are all unusable (PKIX-TA and PKIX-EE, unknown parameters) still requires TLS but verifies
    /// nothing (RFC 7672 2.2), so it is no ground for REQUIRETLS or for sending a password.</summary>
    public bool Authenticates => Mode is TlsMode.Verified or TlsMode.MtaSts || (Mode is TlsMode.Dane && Tlsa.Any(r => r.Usable));

    public static TlsPolicy Opportunistic { get; } = new(TlsMode.Opportunistic, null, "no policy file: opportunistic");

    /// <summary>The second connection after an opportunistic handshake failed: plain text.</summary>
    public static TlsPolicy PlainRetry { get; } = new(TlsMode.Off, null, "retry without TLS after a failed handshake");

    public static TlsPolicy For(string? controlDirectory, string exchanger)
    {
        var name = exchanger.TrimEnd('.').ToLowerInvariant();
        if (controlDirectory is null || name.Length == 0 || name.Contains('/', StringComparison.Ordinal) || name.StartsWith('.'))
        {
            return Opportunistic;
        }

        var off = Path.Combine(controlDirectory, "notlshosts", name);
        if (File.Exists(off))
        {
            return new(TlsMode.Off, null, $"control/notlshosts/{name}");
        }

        var pem = Path.Combine(controlDirectory, "tlshosts", name + ".pem");
        return File.Exists(pem) ? new(TlsMode.Verified, pem, $"control/tlshosts/{name}.pem") : Opportunistic;
    }
}
