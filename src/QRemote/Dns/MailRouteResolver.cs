using System.Globalization;
using System.Net;
using System.Net.Sockets;
using ARSoft.Tools.Net;
using ARSoft.Tools.Net.Dns;
using QRemote.Qmail;

namespace QRemote.Dns;

/// <summary>
/// RFC 5321 section 5 resolution: MX for the domain, then A and AAAA for every exchanger, in
/// parallel. Never ANY, never the CNAME type: a CNAME chain is read from the answer the MX or
/// address query already returned, and asked again only where it leaves that answer.
/// </summary>
public sealed class MailRouteResolver(IDnsLookup dns, ILocalAddresses localAddresses, Random random)
{
    /// <summary>The bound on one phase of resolution (the MX answer with its CNAME chain; a relay's addresses;
    /// the canonical names). Each query has its own, shorter deadline besides.</summary>
    public static readonly TimeSpan PhaseDeadline = TimeSpan.FromSeconds(60);

    /// <summary>Links followed in one CNAME chain (within answers and across re-asks) before giving up.</summary>
    public const int MaxChain = 16;

    private readonly List<string> _trace = [];

    /// <summary>Resolves <paramref name="host"/> by MX (a literal goes straight through).</summary>
    public async Task<Resolution> ResolveMxAsync(string host, int port, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(host);
        if (TryLiteral(host, out var literal))
        {
            return Found([new Destination(literal, port, host, 0, false)], RouteKind.Literal);
        }

        if (!TryName(host, out var domain))
        {
            return Failed(Reports.NoSuchHost(host));
        }

        Followed mx;
        using (var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            deadline.CancelAfter(PhaseDeadline);
            try
            {
                mx = await QueryFollowingAsync(domain, RecordType.Mx, deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                return Failed(Reports.DnsTemporaryFailure());
            }
        }

        if (mx.Status == DnsStatus.TemporaryFailure)
        {
            return Failed(Reports.DnsTemporaryFailure());
        }

        if (mx.Status == DnsStatus.NoSuchName)
        {
            return Failed(Reports.NoSuchHost(host));
        }

        var records = mx.Records.OfType<MxRecord>().ToList();
        if (records.Count == 1 && records[0].ExchangeDomainName.LabelCount == 0)
        {
            // RFC 7505: "MX 0 ." alone says the domain accepts no mail; no A fallback.
            return Failed(Reports.NullMx(host));
        }

        // A null MX mixed with real ones is a misconfiguration: the real ones are used.
        records.RemoveAll(r => r.ExchangeDomainName.LabelCount == 0);
        // An exchanger listed at several preferences (in any letter case) is one exchanger, at its best one.
        var exchangers = records.Count == 0
            ? [(Name: mx.FinalName, Preference: 0)]
            : records.GroupBy(r => r.ExchangeDomainName.ToString(false), StringComparer.OrdinalIgnoreCase)
                .Select(g => (Name: g.First().ExchangeDomainName, Preference: g.Min(r => (int)r.Preference))).ToList();
        var implicitMx = records.Count == 0;
        Note(implicitMx ? $"no MX for {mx.FinalName}: implicit MX" : $"MX {string.Join(", ", exchangers.Select(e => $"{e.Preference} {e.Name}"))}");

        var ordered = Order(exchangers).Select(e => (Name: e.Name.ToString(false), e.Preference)).ToList();
        // One exchanger may be listed at two preferences (in any letter case): it is looked up once.
        var names = new Dictionary<string, DomainName>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, _) in exchangers)
        {
            names.TryAdd(name.ToString(false), name);
        }

        var statuses = new List<DnsStatus>();
        async Task<(IReadOnlyList<IPAddress>, DnsStatus, bool)> Lookup(string name)
        {
            // A secure MX answer's additional section is not covered by its AD bit: DANE needs the addresses'
            // own, validated answers (one query more, for signed domains only).
            var result = await AddressesAsync(names[name], mx.Authentic ? null : mx.Message, cancellationToken).ConfigureAwait(false);
            lock (statuses)
            {
                statuses.Add(result.Status);
            }

            return result;
        }

        // An implicit MX whose name does not exist at all is NXDOMAIN, as netqmail reports it.
        Func<DeliveryReport> noAddress = () => implicitMx && statuses.Count > 0 && statuses.All(s => s == DnsStatus.NoSuchName) ? Reports.NoSuchHost(host) : Reports.NoAddress();
        var list = new DestinationList(
            ordered,
            Lookup,
            (name, preference, address, secure) => new Destination(address, port, name, preference, mx.Authentic, secure),
            localAddresses,
            noAddress,
            Note);
        return new Resolution.Found(list, implicitMx ? RouteKind.ImplicitMx : RouteKind.Mx);
    }

    /// <summary>Resolves an smtproutes relay: a literal, or a name's A and AAAA records (no MX, as qmail).</summary>
    public async Task<Resolution> ResolveRelayAsync(SmtpRoute route, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(route);
        if (TryLiteral(route.Relay, out var literal))
        {
            return Found([new Destination(literal, route.Port, route.Relay, 0, false)], RouteKind.Smtproutes);
        }

        if (!TryName(route.Relay, out var name))
        {
            return Failed(Reports.NoSuchHost(route.Relay));
        }

        var (list, status, secure) = await AddressesAsync(name, null, cancellationToken).ConfigureAwait(false);
        if (list.Count == 0)
        {
            return Failed(status switch
            {
                DnsStatus.TemporaryFailure => Reports.DnsTemporaryFailure(),
                DnsStatus.NoSuchName => Reports.NoSuchHost(route.Relay),
                _ => Reports.NoAddress(),
            });
        }

        return Found(list.Select(a => new Destination(a, route.Port, route.Relay, 0, false, secure)).ToList(), RouteKind.Smtproutes);
    }

    /// <summary>The end of the CNAME chain of <paramref name="domain"/>'s MX answer (for the optional RFC 1123
    /// canonicalization), or null when the lookup failed temporarily.</summary>
    public async Task<string?> CanonicalNameAsync(string domain, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(domain);
        if (TryLiteral(domain, out _) || !TryName(domain, out var name))
        {
            return domain;
        }

        var mx = await QueryFollowingAsync(name, RecordType.Mx, cancellationToken).ConfigureAwait(false);
        return mx.Status switch
        {
            DnsStatus.TemporaryFailure => null,
            DnsStatus.Ok => mx.FinalName.ToString(false),
            _ => domain,
        };
    }

    /// <summary>
    /// Where <paramref name="exchanger"/>'s address records really are, when it is an alias and the whole chain is
    /// DNSSEC-secure: RFC 7672 2.2.2 makes that expanded name the first TLSA base domain. Null otherwise. Asks nothing
    /// new: the A answer is the one the address lookup already had.
    /// </summary>
    public async Task<string?> SecureAliasTargetAsync(string exchanger, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(exchanger);
        if (!TryName(exchanger, out var name))
        {
            return null;
        }

        var a = await QueryFollowingAsync(name, RecordType.A, cancellationToken).ConfigureAwait(false);
        return a.Status == DnsStatus.Ok && a.Authentic && !a.FinalName.Equals(name) ? a.FinalName.ToString(false) : null;
    }

    /// <summary>
    /// The TLSA records of <c>_PORT._tcp.EXCHANGER</c> (RFC 7672 2.2), read through any CNAME chain in the answer.
    /// Secure records only: an answer without the AD bit, NXDOMAIN or NODATA is "no DANE"; a lookup that failed
    /// (SERVFAIL, which is also what a validating resolver says of a bogus answer) is <see cref="TlsaStatus.Failed"/>,
    /// and the exchanger must not be used (RFC 7672 2.1.1: it could be an attacker hiding the records).
    /// </summary>
    public async Task<TlsaLookup> TlsaAsync(string exchanger, int port, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(exchanger);
        if (!TryName($"_{port.ToString(CultureInfo.InvariantCulture)}._tcp.{exchanger.TrimEnd('.')}", out var name))
        {
            return new TlsaLookup(TlsaStatus.None, [], "not a DNS name");
        }

        var answer = await QueryFollowingAsync(name, RecordType.Tlsa, cancellationToken).ConfigureAwait(false);
        var shown = name.ToString(false);
        TlsaLookup result = answer.Status switch
        {
            DnsStatus.TemporaryFailure => new(TlsaStatus.Failed, [], $"{shown} TLSA lookup failed"),
            DnsStatus.NoSuchName => new(TlsaStatus.None, [], $"{shown}: no TLSA records"),
            _ when !answer.Authentic => new(TlsaStatus.None, [], $"{shown}: TLSA answer not secure"),
            _ when answer.Records.Count == 0 => new(TlsaStatus.None, [], $"{shown}: no TLSA records (secure)"),
            _ => new(TlsaStatus.Secure,
                answer.Records.OfType<TlsaRecord>()
                    .Select(r => new Tls.TlsaAssociation((byte)r.CertificateUsage, (byte)r.Selector, (byte)r.MatchingType, r.CertificateAssociationData))
                    .ToList(),
                $"{shown}: {answer.Records.Count} secure TLSA record{(answer.Records.Count == 1 ? "" : "s")}"),
        };
        Note(result.Detail);
        return result;
    }

    public IReadOnlyList<string> Trace => _trace;

    /// <summary>Each trace line as it happens, for --verbose.</summary>
    public TextWriter? Transcript { get; init; }

    /// <summary>Literals: <c>[1.2.3.4]</c>, <c>[IPv6:...]</c>, and a bare dotted quad as qmail accepts.</summary>
    public static bool TryLiteral(string host, out IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(host);
        address = IPAddress.None;
        if (host.Length > 2 && host[0] == '[' && host[^1] == ']')
        {
            var inner = host[1..^1];
            if (inner.StartsWith("IPv6:", StringComparison.OrdinalIgnoreCase))
            {
                return IPAddress.TryParse(inner[5..], out address!) && address.AddressFamily == AddressFamily.InterNetworkV6;
            }

            return IsDottedQuad(inner) && IPAddress.TryParse(inner, out address!);
        }

        return IsDottedQuad(host) && IPAddress.TryParse(host, out address!);
    }

    private static bool IsDottedQuad(string s)
    {
        var parts = s.Split('.');
        return parts.Length == 4 && parts.All(p => p.Length is > 0 and <= 3 && p.All(char.IsAsciiDigit) && int.Parse(p, CultureInfo.InvariantCulture) <= 255);
    }

    private static bool TryName(string host, out DomainName name)
    {
        name = DomainName.Root;
        // A bracket can only open a literal (a malformed one names no host); control bytes and spaces
        // are in no host name.
        if (host.Length == 0 || host.Length > 253 || host.AsSpan().IndexOfAnyInRange('\0', ' ') >= 0 || host.AsSpan().IndexOfAny('\x7f', '[', ']') >= 0)
        {
            return false;
        }

        if (!DomainName.TryParse(host, out var parsed) || parsed is null || parsed.LabelCount == 0)
        {
            return false;
        }

        name = parsed;
        return true;
    }

    /// <summary>Equal preferences in random order (RFC 5321 5.1), lower preference first.</summary>
    private List<(DomainName Name, int Preference)> Order(List<(DomainName Name, int Preference)> exchangers)
    {
        var result = new List<(DomainName Name, int Preference)>();
        foreach (var group in exchangers.GroupBy(e => e.Preference).OrderBy(g => g.Key))
        {
            var members = group.DistinctBy(e => e.Name.ToString(false).ToLowerInvariant()).ToArray();
            random.Shuffle(members);
            result.AddRange(members);
        }

        return result;
    }

    /// <summary>A and AAAA for one name, in parallel, taking records from <paramref name="carrier"/>'s additional
    /// section where it has them. Addresses come IPv6 and IPv4 alternately, IPv6 first (RFC 8305).</summary>
    private async Task<(IReadOnlyList<IPAddress> Addresses, DnsStatus Status, bool Secure)> AddressesAsync(DomainName name, DnsMessage? carrier, CancellationToken cancellationToken)
    {
        var aTask = FromAdditionalOrQuery<ARecord>(name, RecordType.A, carrier, cancellationToken);
        var aaaaTask = FromAdditionalOrQuery<AaaaRecord>(name, RecordType.Aaaa, carrier, cancellationToken);
        var a = await aTask.ConfigureAwait(false);
        var aaaa = await aaaaTask.ConfigureAwait(false);
        var v4 = a.Records.OfType<ARecord>().Select(r => r.Address).Distinct().ToList();
        var v6 = aaaa.Records.OfType<AaaaRecord>().Select(r => r.Address).Distinct().ToList();
        var merged = new List<IPAddress>(v4.Count + v6.Count);
        for (var i = 0; i < Math.Max(v4.Count, v6.Count); i++)
        {
            if (i < v6.Count)
            {
                merged.Add(v6[i]);
            }

            if (i < v4.Count)
            {
                merged.Add(v4[i]);
            }
        }

        var status = a.Status == DnsStatus.TemporaryFailure || aaaa.Status == DnsStatus.TemporaryFailure
            ? DnsStatus.TemporaryFailure
            : a.Status == DnsStatus.NoSuchName && aaaa.Status == DnsStatus.NoSuchName ? DnsStatus.NoSuchName : DnsStatus.Ok;
        // Secure: both answers validated (a NODATA answer, signed, is as good as records).
        var secure = a.Status == DnsStatus.Ok && aaaa.Status == DnsStatus.Ok && a.Authentic && aaaa.Authentic;
        Note($"{name}: {(merged.Count == 0 ? status.ToString() : string.Join(" ", merged))}{(secure ? " (secure)" : "")}");
        return (merged, status, secure);
    }

    private async Task<Followed> FromAdditionalOrQuery<T>(DomainName name, RecordType type, DnsMessage? carrier, CancellationToken cancellationToken)
        where T : DnsRecordBase
    {
        if (carrier is not null)
        {
            var extra = carrier.AdditionalRecords.OfType<T>().Where(r => r.Name.Equals(name)).Cast<DnsRecordBase>().ToList();
            if (extra.Count > 0)
            {
                return new Followed(DnsStatus.Ok, name, extra, carrier, carrier.IsAuthenticData);
            }
        }

        return await QueryFollowingAsync(name, type, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The records of <paramref name="type"/> at the end of <paramref name="name"/>'s CNAME chain, read
    /// from the answer; asked again (for the chain's end, with the same type) only where the chain leaves it.</summary>
    private async Task<Followed> QueryFollowingAsync(DomainName name, RecordType type, CancellationToken cancellationToken)
    {
        var current = name;
        var seen = new HashSet<DomainName> { name };
        DnsAnswer answer;
        var asked = 0;
        var authentic = true;
        while (true)
        {
            answer = await dns.QueryAsync(current, type, cancellationToken).ConfigureAwait(false);
            asked++;
            if (answer.Status != DnsStatus.Ok || answer.Message is null)
            {
                Note($"{current} {type}: {answer.Detail}");
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
                    Note($"{name} {type}: CNAME loop or chain longer than {MaxChain}");
                    return new Followed(DnsStatus.TemporaryFailure, current, [], answer.Message, false);
                }

                Note($"{current} is an alias for {alias.CanonicalName}");
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

    private void Note(string line)
    {
        lock (_trace)
        {
            _trace.Add(line);
            Transcript?.WriteLine("dns: " + line);
        }
    }

    private static Resolution.Found Found(IReadOnlyList<Destination> destinations, RouteKind route) => new(new DestinationList(destinations), route);

    private static Resolution.Failed Failed(DeliveryReport report) => new(report);

    /// <param name="Authentic">Every answer along the chain had the AD bit.</param>
    private sealed record Followed(DnsStatus Status, DomainName FinalName, IReadOnlyList<DnsRecordBase> Records, DnsMessage? Message, bool Authentic);
}

/// <summary>What a TLSA lookup found, for DANE.</summary>
public enum TlsaStatus
{
    /// <summary>No secure TLSA records: DANE does not apply.</summary>
    None,
    /// <summary>Secure TLSA records: DANE applies.</summary>
    Secure,
    /// <summary>The lookup failed: the exchanger must not be used now.</summary>
    Failed,
}

public sealed record TlsaLookup(TlsaStatus Status, IReadOnlyList<Tls.TlsaAssociation> Records, string Detail);
