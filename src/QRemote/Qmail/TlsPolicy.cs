namespace QRemote.Qmail;

/// <summary>How STARTTLS is used for one exchanger.</summary>
public enum TlsMode
{
    /// <summary>STARTTLS when offered, certificate not verified (RFC 7435); a failed handshake retries in plain text.</summary>
    Opportunistic,
    /// <summary>STARTTLS required, the certificate verified against a CA file and the exchanger's name: never plain text.</summary>
    Verified,
    /// <summary>No STARTTLS, even when offered.</summary>
    Off,
    /// <summary>DANE (RFC 7672): STARTTLS required, the certificate checked against the exchanger's secure TLSA
    /// records; never plain text.</summary>
    Dane,
    /// <summary>MTA-STS enforce (RFC 8461): STARTTLS required, the certificate verified against the WebPKI roots
    /// and the exchanger's name; never plain text.</summary>
    MtaSts,
    /// <summary>This exchanger must not be tried at all (its TLSA lookup failed; it is outside the MTA-STS
    /// policy): <see cref="TlsPolicy.Why"/> says why.</summary>
    Unusable,
}

/// <summary>
/// The TLS policy from the control files of qmail's TLS patch, the ones operators already have:
/// <c>control/notlshosts/HOST</c> (any content) turns TLS off for HOST; <c>control/tlshosts/HOST.pem</c>
/// requires TLS to HOST, verified against the CA certificates in that file, with HOST in the
/// certificate. HOST is the exchanger's name as QRemote connects to it (the MX name, the smtproutes
/// relay, or the literal), lower case, without a final dot. Anything else is opportunistic, unless
/// DANE or MTA-STS says more (<see cref="Delivery.TlsPolicyResolver"/>).
/// </summary>
public sealed record TlsPolicy(TlsMode Mode, string? CaFile, string Why)
{
    /// <summary>DANE: the exchanger's TLSA records (all of them; <see cref="Tls.TlsaAssociation.Usable"/> picks).</summary>
    public IReadOnlyList<Tls.TlsaAssociation> Tlsa { get; init; } = [];

    /// <summary>DANE: the names a DANE-TA certificate may carry, the TLSA base domain first (where the TLSA records
    /// were found: a secure alias's target, else the MX name itself), then the other one. The first is also the SNI
    /// name (RFC 7672 8.1).</summary>
    public IReadOnlyList<string> DaneNames { get; init; } = [];

    /// <summary>MTA-STS: the WebPKI roots the certificate must chain to.</summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate2Collection? Roots { get; init; }

    /// <summary>TLS or nothing: no plain-text retry, a missing STARTTLS is a failure of this address.</summary>
    public bool Required => Mode is TlsMode.Verified or TlsMode.Dane or TlsMode.MtaSts;

    public static TlsPolicy Opportunistic { get; } = new(TlsMode.Opportunistic, null, "no policy file: opportunistic");

    public static TlsPolicy For(string? controlDirectory, string exchanger)
    {
        ArgumentNullException.ThrowIfNull(exchanger);
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
