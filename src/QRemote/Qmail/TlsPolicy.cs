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
}

/// <summary>
/// The TLS policy from the control files of qmail's TLS patch, the ones operators already have:
/// <c>control/notlshosts/HOST</c> (any content) turns TLS off for HOST; <c>control/tlshosts/HOST.pem</c>
/// requires TLS to HOST, verified against the CA certificates in that file, with HOST in the
/// certificate. HOST is the exchanger's name as QRemote connects to it (the MX name, the smtproutes
/// relay, or the literal), lower case, without a final dot. Anything else is opportunistic.
/// </summary>
public sealed record TlsPolicy(TlsMode Mode, string? CaFile, string Why)
{
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
