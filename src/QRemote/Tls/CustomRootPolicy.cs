using System.Security.Cryptography.X509Certificates;

namespace QRemote.Tls;

/// <summary>The chain policy of every certificate chain QRemote builds (STARTTLS, the MTA-STS fetch, DANE-TA): the
/// given roots and nothing else (never the system store), no downloading of intermediates (no HTTP side trips from
/// an MTA), no revocation checks (they would go online too).</summary>
internal static class CustomRootPolicy
{
    public static X509ChainPolicy Create(X509Certificate2Collection? roots)
    {
        var policy = new X509ChainPolicy
        {
            TrustMode = X509ChainTrustMode.CustomRootTrust,
            RevocationMode = X509RevocationMode.NoCheck,
            DisableCertificateDownloads = true,
        };
        if (roots is not null)
        {
            policy.CustomTrustStore.AddRange(roots);
        }

        return policy;
    }
}
