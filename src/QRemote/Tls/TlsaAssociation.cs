using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace QRemote.Tls;

/// <summary>One TLSA record's certificate association (RFC 6698 2.1), as DANE for SMTP (RFC 7672) uses it.</summary>
/// <param name="Usage">0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE.</param>
/// <param name="Selector">0 the full certificate, 1 its SubjectPublicKeyInfo.</param>
/// <param name="MatchingType">0 exact, 1 SHA-256, 2 SHA-512.</param>
internal sealed record TlsaAssociation(byte Usage, byte Selector, byte MatchingType, byte[] Data)
{
    public const byte DaneTa = 2;
    public const byte DaneEe = 3;

    /// <summary>
    /// RFC 7672 3.1.3: SMTP clients treat PKIX-TA(0) and PKIX-EE(1) as unusable (there is no agreed set of
    /// WebPKI roots for SMTP), and so every record with a selector or matching type this code does not know.
    /// </summary>
    public bool Usable => Usage is DaneTa or DaneEe && Selector is 0 or 1 && MatchingType is 0 or 1 or 2;

    /// <summary>Whether <paramref name="certificate"/> is the one this record names (by selector and matching type).</summary>
    public bool Matches(X509Certificate2 certificate)
    {
        var selected = Selector == 0 ? certificate.RawData : certificate.PublicKey.ExportSubjectPublicKeyInfo();
        var digest = MatchingType switch
        {
            0 => selected,
            1 => SHA256.HashData(selected),
            2 => SHA512.HashData(selected),
            _ => null,
        };
        return digest is not null && CryptographicOperations.FixedTimeEquals(digest, Data);
    }

    public override string ToString() => $"{Usage} {Selector} {MatchingType} {Convert.ToHexString(Data).ToLowerInvariant()}";
}
