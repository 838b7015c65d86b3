using ARSoft.Tools.Net;
using ARSoft.Tools.Net.Dns;

namespace QRemote.Dns;

/// <summary>
/// The one CNAME-chain walker (MX, address, TLSA and MTA-STS lookups all use it): the records of a type at the end
/// of a name's chain, read from the answer that already holds the chain, and asked again (for the chain's end, with
/// the same type) only where the chain leaves that answer. Never the CNAME type itself. A loop, or a chain longer
/// than <see cref="MaxChain"/>, is a temporary failure.
/// </summary>
internal static class CnameChain
{
    /// <summary>Links followed in one CNAME chain (within answers and across re-asks) before giving up.</summary>
    public const int MaxChain = 16;

    /// <param name="note">Each step worth a trace line (an alias, a failure), or null.</param>
    public static async Task<Followed> FollowAsync(IDnsLookup dns, DomainName name, RecordType type, Action<string>? note, CancellationToken cancellationToken)
    {
        var current = name;
        var seen = new HashSet<DomainName> { name };
        var authentic = true;
        for (var asked = 1; ; asked++)
        {
            var answer = await dns.QueryAsync(current, type, cancellationToken).ConfigureAwait(false);
            if (answer.Status != DnsStatus.Ok || answer.Message is null)
            {
                note?.Invoke($"{current} {type}: {answer.Detail}");
                return new Followed(answer.Status, current, [], answer.Message, false);
            }

            // A chain is secure only if every answer along it was (RFC 7672 2.2).
            authentic &= answer.Authentic;
            var records = answer.Message.AnswerRecords;
            var moved = false;
            while (records.OfType<CNameRecord>().FirstOrDefault(c => c.Name.Equals(current)) is { } alias)
            {
                if (!seen.Add(alias.CanonicalName) || seen.Count > MaxChain)
                {
                    note?.Invoke($"{name} {type}: CNAME loop or chain longer than {MaxChain}");
                    return new Followed(DnsStatus.TemporaryFailure, current, [], answer.Message, false);
                }

                note?.Invoke($"{current} is an alias for {alias.CanonicalName}");
                current = alias.CanonicalName;
                moved = true;
            }

            var found = records.Where(r => r.RecordType == type && r.Name.Equals(current)).ToList();
            if (found.Count > 0 || !moved || asked >= MaxChain || answer.Message.AuthorityRecords.Any(r => r.RecordType == RecordType.Soa))
            {
                // Records found; or no alias at all; or the chain ends in NODATA inside this answer (the
                // SOA in the authority section says so).
                return new Followed(DnsStatus.Ok, current, found, answer.Message, authentic);
            }

            // The chain leaves this answer (its end is in a zone the server did not follow): ask for the end.
        }
    }

    /// <summary>Where a chain ended.</summary>
    /// <param name="FinalName">The chain's last name (the name itself when it is no alias).</param>
    /// <param name="Records">The records of the asked type there; empty on failure or NODATA.</param>
    /// <param name="Message">The last answer, when there was one.</param>
    /// <param name="Authentic">Every answer along the chain had the AD bit.</param>
    public sealed record Followed(DnsStatus Status, DomainName FinalName, IReadOnlyList<DnsRecordBase> Records, DnsMessage? Message, bool Authentic);
}
