using System.Globalization;
using ARSoft.Tools.Net.Dns;
using QRemote.Tls;

namespace QRemote.Dns;

/// <summary>What the TLSA lookup of one exchanger found, for DANE.</summary>
/// <param name="Records">The secure TLSA records (all of them; <see cref="TlsaAssociation.Usable"/> picks).</param>
/// <param name="Detail">One line for the trace and the TLS policy's reason.</param>
internal sealed record TlsaLookup(TlsaStatus Status, IReadOnlyList<TlsaAssociation> Records, string Detail)
{
    /// <summary>
    /// The TLSA records of <c>_PORT._tcp.EXCHANGER</c> (RFC 7672 2.2), read through any CNAME chain in the answer.
    /// Secure records only: an answer without the AD bit, NXDOMAIN or NODATA is "no DANE"; a lookup that failed
    /// (SERVFAIL, which is also what a validating resolver says of a bogus answer) is <see cref="TlsaStatus.Failed"/>,
    /// and the exchanger must not be used (RFC 7672 2.1.1: it could be an attacker hiding the records).
    /// </summary>
    internal static async Task<TlsaLookup> QueryAsync(IDnsLookup dns, string exchanger, int port, Action<string> note, CancellationToken cancellationToken)
    {
        if (!MailRouteResolver.TryName($"_{port.ToString(CultureInfo.InvariantCulture)}._tcp.{exchanger.TrimEnd('.')}", out var name))
        {
            return new TlsaLookup(TlsaStatus.None, [], "not a DNS name");
        }

        var answer = await CnameChain.FollowAsync(dns, name, RecordType.Tlsa, note, cancellationToken).ConfigureAwait(false);
        var shown = name.ToString(false);
        TlsaLookup result = answer.Status switch
        {
            DnsStatus.TemporaryFailure => new(TlsaStatus.Failed, [], $"{shown} TLSA lookup failed"),
            DnsStatus.NoSuchName => new(TlsaStatus.None, [], $"{shown}: no TLSA records"),
            _ when !answer.Authentic => new(TlsaStatus.None, [], $"{shown}: TLSA answer not secure"),
            _ when answer.Records.Count == 0 => new(TlsaStatus.None, [], $"{shown}: no TLSA records (secure)"),
            _ => new(TlsaStatus.Secure,
                answer.Records.OfType<TlsaRecord>()
                    .Select(r => new TlsaAssociation((byte)r.CertificateUsage, (byte)r.Selector, (byte)r.MatchingType, r.CertificateAssociationData))
                    .ToList(),
                $"{shown}: {answer.Records.Count} secure TLSA record{(answer.Records.Count == 1 ? "" : "s")}"),
        };
        note(result.Detail);
        return result;
    }
}
