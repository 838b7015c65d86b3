using System.Security.Cryptography.X509Certificates;

namespace QRemote.Tls;

/// <summary>
/// Checks a server's certificate against the exchanger's secure TLSA records (RFC 7672 3.1):
/// <list type="bullet">
/// <item>DANE-EE(3): the server's own certificate (or key) matches; nothing else is checked: not the
/// name, not the dates, not the chain (RFC 7672 3.1.1).</item>
/// <item>DANE-TA(2): some certificate the server sent matches, the server's certificate chains to it
/// (dates checked), and names the exchanger (RFC 7672 3.1.2 and 3.2.2: the MX host name).</item>
/// </list>
/// Pure: takes what the handshake presented, returns null for a match or why not.
/// </summary>
internal static class DaneCheck
{
    /// <param name="names">The names a DANE-TA certificate may carry: the MX name and, for a secure alias, its target
    /// (RFC 7672 3.2.2).</param>
    public static string? Verify(IReadOnlyList<TlsaAssociation> records, X509Certificate2 leaf, IReadOnlyList<X509Certificate2> presented, IReadOnlyList<string> names, DateTime now) =>
        Check(records, leaf, presented, names, now).Why;

    /// <summary><see cref="Verify"/>, with the TLS reporting result (RFC 8460 4.3) decided here, where the failure is seen:
    /// no usable record is <see cref="TlsReportResult.TlsaInvalid"/> though the session goes on; and what verified the
    /// certificate (<c>DANE-EE</c>, <c>DANE-TA</c>), null when nothing did (no usable record: TLS unauthenticated).</summary>
    public static (string? Why, TlsReportResult Result, string? VerifiedBy) Check(IReadOnlyList<TlsaAssociation> records, X509Certificate2 leaf, IReadOnlyList<X509Certificate2> presented,
        IReadOnlyList<string> names, DateTime now)
    {
        var usable = records.Where(r => r.Usable).ToList();
        if (usable.Count == 0)
        {
            // RFC 7672 2.2: TLSA records exist but none is usable: TLS is still mandatory, unauthenticated.
            return (null, TlsReportResult.TlsaInvalid, null);
        }

        if (usable.Any(r => r.Usage == TlsaAssociation.DaneEe && r.Matches(leaf)))
        {
            return (null, TlsReportResult.Success, "DANE-EE");
        }

        foreach (var anchor in presented.Where(c => usable.Any(r => r.Usage == TlsaAssociation.DaneTa && r.Matches(c))))
        {
            using var chain = new X509Chain { ChainPolicy = CustomRootPolicy.Create(new X509Certificate2Collection(anchor)) };
            chain.ChainPolicy.ExtraStore.AddRange(presented.ToArray());
            chain.ChainPolicy.VerificationTime = now;
            if (chain.Build(leaf) && names.Any(n => leaf.MatchesHostname(n.TrimEnd('.'), allowWildcards: true, allowCommonName: true)))
            {
                return (null, TlsReportResult.Success, "DANE-TA");
            }

            if (chain.ChainStatus.Length > 0)
            {
                var expired = chain.ChainStatus.Any(s => s.Status.HasFlag(X509ChainStatusFlags.NotTimeValid));
                return ($"DANE-TA: the chain to the matching trust anchor failed: {chain.ChainStatus[0].StatusInformation.Trim()}",
                    expired ? TlsReportResult.CertificateExpired : TlsReportResult.CertificateNotTrusted, null);
            }

            return ($"DANE-TA: the certificate does not name {string.Join(" or ", names)}", TlsReportResult.CertificateHostMismatch, null);
        }

        return ($"no TLSA record matches the server's certificate ({usable.Count} usable record{(usable.Count == 1 ? "" : "s")})", TlsReportResult.ValidationFailure, null);
    }
}
