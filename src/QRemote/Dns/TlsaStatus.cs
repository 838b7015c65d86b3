namespace QRemote.Dns;

/// <summary>What a TLSA lookup found, for DANE.</summary>
internal enum TlsaStatus
{
    /// <summary>No secure TLSA records: DANE does not apply.</summary>
    None,
    /// <summary>Secure TLSA records: DANE applies.</summary>
    Secure,
    /// <summary>The lookup failed: the exchanger must not be used now.</summary>
    Failed,
}
