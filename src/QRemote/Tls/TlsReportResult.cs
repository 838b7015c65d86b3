namespace QRemote.Tls;

/// <summary>
/// The outcome of one TLS session (or of one attempt to apply a policy) for SMTP TLS Reporting: success, or one of
/// RFC 8460 section 4.3's result types. Decided where the failure is seen (<see cref="DaneCheck"/>, the certificate
/// callbacks, the opening of a connection, the TLS policy, the MTA-STS fetch) and carried as this value; never read
/// back out of a report text.
/// </summary>
internal enum TlsReportResult
{
    Success,

    /// <summary>4.3.1: required TLS, and the server did not offer STARTTLS.</summary>
    StarttlsNotSupported,

    /// <summary>4.3.1: the certificate does not name the MX host (or the TLSA base domain).</summary>
    CertificateHostMismatch,

    /// <summary>4.3.1: the certificate (or one in its chain) is outside its validity period.</summary>
    CertificateExpired,

    /// <summary>4.3.1: the chain does not end at a trusted root (MTA-STS) or at a TLSA trust anchor (DANE-TA).</summary>
    CertificateNotTrusted,

    /// <summary>4.3.1: any other failure to validate: no TLSA record matches, a handshake that broke, an MX outside the
    /// MTA-STS policy's list.</summary>
    ValidationFailure,

    /// <summary>4.3.2: TLSA records exist, but none is usable (RFC 7672 2.2: TLS is still mandatory, unauthenticated).</summary>
    TlsaInvalid,

    /// <summary>4.3.2: the TLSA lookup failed (SERVFAIL, which a validating resolver also says of a bogus answer).</summary>
    DnssecInvalid,

    /// <summary>4.3.2: DANE required by local configuration, and no secure TLSA records (QRemote has no such setting;
    /// the value exists so the catalogue is whole).</summary>
    DaneRequired,

    /// <summary>4.3.3: the MTA-STS policy could not be fetched.</summary>
    StsPolicyFetchError,

    /// <summary>4.3.3: the MTA-STS policy was fetched but does not parse.</summary>
    StsPolicyInvalid,

    /// <summary>4.3.3: the policy host's certificate did not verify.</summary>
    StsWebpkiInvalid,
}

/// <summary>The names RFC 8460 gives each <see cref="TlsReportResult"/>, and libtlsrpt's numbers for them.</summary>
internal static class TlsReportResults
{
    /// <summary>The <c>result-type</c> string of RFC 8460 4.3 ("success" for a session that succeeded).</summary>
    public static string Name(this TlsReportResult result) => result switch
    {
        TlsReportResult.Success => "success",
        TlsReportResult.StarttlsNotSupported => "starttls-not-supported",
        TlsReportResult.CertificateHostMismatch => "certificate-host-mismatch",
        TlsReportResult.CertificateExpired => "certificate-expired",
        TlsReportResult.CertificateNotTrusted => "certificate-not-trusted",
        TlsReportResult.ValidationFailure => "validation-failure",
        TlsReportResult.TlsaInvalid => "tlsa-invalid",
        TlsReportResult.DnssecInvalid => "dnssec-invalid",
        TlsReportResult.DaneRequired => "dane-required",
        TlsReportResult.StsPolicyFetchError => "sts-policy-fetch-error",
        TlsReportResult.StsPolicyInvalid => "sts-policy-invalid",
        TlsReportResult.StsWebpkiInvalid => "sts-webpki-invalid",
        _ => throw new ArgumentOutOfRangeException(nameof(result)),
    };

    /// <summary>The result for a name, as the spool holds it; false for anything else.</summary>
    public static bool TryParse(string? name, out TlsReportResult result)
    {
        foreach (var candidate in Enum.GetValues<TlsReportResult>())
        {
            if (string.Equals(candidate.Name(), name, StringComparison.Ordinal))
            {
                result = candidate;
                return true;
            }
        }

        result = default;
        return false;
    }

    /// <summary>libtlsrpt's <c>tlsrpt_failure_t</c> number (tlsrpt.h: 2xx TLS negotiation, 3xx policy and DNS).</summary>
    public static int LibTlsrptCode(this TlsReportResult result) => result switch
    {
        TlsReportResult.StarttlsNotSupported => 201,
        TlsReportResult.CertificateHostMismatch => 202,
        TlsReportResult.CertificateNotTrusted => 203,
        TlsReportResult.CertificateExpired => 204,
        TlsReportResult.ValidationFailure => 205,
        TlsReportResult.StsPolicyFetchError => 301,
        TlsReportResult.StsPolicyInvalid => 302,
        TlsReportResult.StsWebpkiInvalid => 303,
        TlsReportResult.TlsaInvalid => 304,
        TlsReportResult.DnssecInvalid => 305,
        TlsReportResult.DaneRequired => 306,
        _ => throw new ArgumentOutOfRangeException(nameof(result)),
    };

    /// <summary>The result for a certificate that did not verify against roots (MTA-STS, tlshosts): the name first,
    /// then the dates, then the chain.</summary>
    public static TlsReportResult ForCertificate(System.Net.Security.SslPolicyErrors errors, System.Security.Cryptography.X509Certificates.X509Chain? chain)
    {
        if (errors.HasFlag(System.Net.Security.SslPolicyErrors.RemoteCertificateNameMismatch))
        {
            return TlsReportResult.CertificateHostMismatch;
        }

        return chain?.ChainStatus.Any(s => s.Status.HasFlag(System.Security.Cryptography.X509Certificates.X509ChainStatusFlags.NotTimeValid)) == true
            ? TlsReportResult.CertificateExpired
            : TlsReportResult.CertificateNotTrusted;
    }
}
