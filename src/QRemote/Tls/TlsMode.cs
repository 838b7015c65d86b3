namespace QRemote.Tls;

/// <summary>How STARTTLS is used for one exchanger.</summary>
internal enum TlsMode
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
