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
internal sealed class MailRouteResolver(IDnsLookup dns, ILocalAddresses localAddresses, Random random)
{
    /// <summary>The bound on one phase of resolution (the MX answer with its CNAME chain; a relay's addresses;
    /// the canonical names). Each query has its own, shorter deadline besides.</summary>
    public static readonly TimeSpan PhaseDeadline = TimeSpan.FromSeconds(60);

    private readonly List<string> _trace = [];

    /// <summary>Resolves <paramref name="host"/> by MX (a literal goes straight through).</summary>
    public async Task<Resolution> ResolveMxAsync(string host, int port, CancellationToken cancellationToken)
    {
        if (TryLiteral(host, out var literal))
        {
            return Found([new Destination(literal, port, host, 0, false)], RouteKind.Literal);
        }

        if (!TryName(host, out var domain))
        {
            return Failed(Reports.NoSuchHost(host));
        }

        var mx = await QueryMxAsync(domain, cancellationToken).ConfigureAwait(false);
        if (mx is null || mx.Status == DnsStatus.TemporaryFailure)
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
            : BestPreferences(records);
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
        DeliveryReport NoAddress() => implicitMx && statuses.Count > 0 && statuses.All(s => s == DnsStatus.NoSuchName) ? Reports.NoSuchHost(host) : Reports.NoAddress();
        var list = new DestinationList(
            ordered,
            Lookup,
            (name, preference, address, secure) => new Destination(address, port, name, preference, mx.Authentic, secure),
            localAddresses,
            NoAddress,
            Note);
        return new Resolution.Found(list, implicitMx ? RouteKind.ImplicitMx : RouteKind.Mx);
    }

    /// <summary>The MX answer with its CNAME chain, within <see cref="PhaseDeadline"/>; null when that ran out.</summary>
    private async Task<CnameChain.Followed?> QueryMxAsync(DomainName domain, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(PhaseDeadline);
        try
        {
            return await QueryFollowingAsync(domain, RecordType.Mx, deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    /// <summary>Resolves an smtproutes relay: a literal, or a name's A and AAAA records (no MX, as qmail).</summary>
    public async Task<Resolution> ResolveRelayAsync(SmtpRoute route, CancellationToken cancellationToken)
    {
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
        if (!TryName(exchanger, out var name))
        {
            return null;
        }

        var a = await QueryFollowingAsync(name, RecordType.A, cancellationToken).ConfigureAwait(false);
        return a.Status == DnsStatus.Ok && a.Authentic && !a.FinalName.Equals(name) ? a.FinalName.ToString(false) : null;
    }

    /// <summary>The TLSA records of <c>_PORT._tcp.EXCHANGER</c>, for DANE (<see cref="TlsaLookup"/>).</summary>
    public Task<TlsaLookup> TlsaAsync(string exchanger, int port, CancellationToken cancellationToken) =>
        TlsaLookup.QueryAsync(dns, exchanger, port, Note, cancellationToken);

    public IReadOnlyList<string> Trace => _trace;

    /// <summary>Each trace line as it happens, for --verbose.</summary>
    public TextWriter? Transcript { get; init; }

    /// <summary>Literals: <c>[1.2.3.4]</c>, <c>[IPv6:...]</c>, and a bare dotted quad as qmail accepts.</summary>
    public static bool TryLiteral(string host, out IPAddress address)
    {
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

    internal static bool TryName(string host, out DomainName name)
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
        var v4 = DistinctAddresses<ARecord>(a.Records);
        var v6 = DistinctAddresses<AaaaRecord>(aaaa.Records);
        var merged = AddressOrder.Interleave(v6, v4);

        var status = a.Status == DnsStatus.TemporaryFailure || aaaa.Status == DnsStatus.TemporaryFailure
            ? DnsStatus.TemporaryFailure
            : a.Status == DnsStatus.NoSuchName && aaaa.Status == DnsStatus.NoSuchName ? DnsStatus.NoSuchName : DnsStatus.Ok;
        // Secure: both answers validated (a NODATA answer, signed, is as good as records).
        var secure = a.Status == DnsStatus.Ok && aaaa.Status == DnsStatus.Ok && a.Authentic && aaaa.Authentic;
        Note($"{name}: {(merged.Count == 0 ? status.ToString() : string.Join(" ", merged))}{(secure ? " (secure)" : "")}");
        return (merged, status, secure);
    }

    /// <summary>Each exchanger once, named as its first record names it, at the best preference it is listed at, in the
    /// order of its first record. A loop for the reason <see cref="DistinctAddresses{T}"/> gives.</summary>
    private static List<(DomainName Name, int Preference)> BestPreferences(List<MxRecord> records)
    {
        var exchangers = new List<(DomainName Name, int Preference)>();
        var index = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        foreach (var record in records)
        {
            var key = record.ExchangeDomainName.ToString(false);
            if (index.TryGetValue(key, out var i))
            {
                exchangers[i] = (exchangers[i].Name, Math.Min(exchangers[i].Preference, record.Preference));
            }
            else
            {
                index[key] = exchangers.Count;
                exchangers.Add((record.ExchangeDomainName, record.Preference));
            }
        }

        return exchangers;
    }

    /// <summary>The addresses of the A or AAAA records among <paramref name="records"/>, each once, in their order. A loop,
    /// not <c>OfType().Select().Distinct()</c>: LINQ's Select on an iterator is a generic virtual call that a Native AOT
    /// process resolves through the runtime type loader the first time, 1% of an MX delivery's CPU.</summary>
    private static List<IPAddress> DistinctAddresses<T>(IReadOnlyList<DnsRecordBase> records)
        where T : IAddressRecord
    {
        // A set beside the list, so a hostile answer of thousands of records costs one pass, as Distinct did.
        var addresses = new List<IPAddress>();
        var seen = new HashSet<IPAddress>();
        foreach (var record in records)
        {
            if (record is T address && seen.Add(address.Address))
            {
                addresses.Add(address.Address);
            }
        }

        return addresses;
    }

    private async Task<CnameChain.Followed> FromAdditionalOrQuery<T>(DomainName name, RecordType type, DnsMessage? carrier, CancellationToken cancellationToken)
        where T : DnsRecordBase
    {
        if (carrier is not null)
        {
            var extra = carrier.AdditionalRecords.OfType<T>().Where(r => r.Name.Equals(name)).Cast<DnsRecordBase>().ToList();
            if (extra.Count > 0)
            {
                return new CnameChain.Followed(DnsStatus.Ok, name, extra, carrier, carrier.IsAuthenticData);
            }
        }

        return await QueryFollowingAsync(name, type, cancellationToken).ConfigureAwait(false);
    }

    private Task<CnameChain.Followed> QueryFollowingAsync(DomainName name, RecordType type, CancellationToken cancellationToken) =>
        CnameChain.FollowAsync(dns, name, type, Note, cancellationToken);

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
}
