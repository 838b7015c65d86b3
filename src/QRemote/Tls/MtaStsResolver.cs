using ARSoft.Tools.Net;
using ARSoft.Tools.Net.Dns;
using QRemote.Dns;

namespace QRemote.Tls;

/// <summary>
/// MTA-STS policy discovery for one recipient domain (RFC 8461 sections 3 and 5.1):
/// <list type="number">
/// <item>TXT at <c>_mta-sts.DOMAIN</c> (CNAMEs followed): exactly one record starting <c>v=STSv1;</c>, with an id.</item>
/// <item>Its id equal to the cached policy's, and that policy unexpired: the cached policy, nothing fetched.</item>
/// <item>Otherwise the policy is fetched (<see cref="MtaStsFetcher"/>), parsed, cached and used; if that fails, an
/// unexpired cached policy is used (RFC 8461 3.3: "the sender MUST apply that cached policy").</item>
/// <item>No valid TXT record, or a failed TXT lookup: an unexpired cached policy if there is one, else no policy.</item>
/// </list>
/// Never throws for DNS, network, file or parse problems: they end as "no policy" (or the cached one) with a
/// <see cref="MtaStsResult.Detail"/> saying why. Only the caller's own cancellation throws.
/// </summary>
internal sealed class MtaStsResolver(IDnsLookup dns, MtaStsOptions options, TimeProvider time)
{
    private readonly IDnsLookup _dns = dns ?? throw new ArgumentNullException(nameof(dns));
    private readonly MtaStsOptions _options = options ?? throw new ArgumentNullException(nameof(options));
    private readonly TimeProvider _time = time ?? throw new ArgumentNullException(nameof(time));
    private readonly MtaStsCache _cache = new(options.CacheDirectory);

    /// <summary>The policy to apply to mail for <paramref name="domain"/> (the recipient domain, or an smtproutes
    /// relay's name: RFC 8461 3.3 makes a smart host the policy domain).</summary>
    public async Task<MtaStsResult> GetPolicyAsync(string domain, CancellationToken cancellationToken)
    {
        if (!TryPolicyDomain(domain, out var name))
        {
            return Result(null, $"{domain} is not a domain name: no policy");
        }

        var cached = _cache.Load(name);
        var fresh = cached is not null && cached.IsFreshAt(_time.GetUtcNow()) ? cached : null;
        // Why the cached one is not used, when there is one: said when nothing else is found.
        var noCache = cached is null ? "no cached policy" : $"cached policy id {cached.Id} expired {Stamp(cached.Expires)}";

        var (id, recordProblem, temporary) = await LookupRecordAsync(name, cancellationToken).ConfigureAwait(false);
        if (id is null)
        {
            return fresh is not null
                ? Result(fresh, $"{Describe(fresh)}, cached; {recordProblem}")
                : Result(null, temporary ? $"{recordProblem}; {noCache}" : recordProblem!);
        }

        if (fresh is not null && fresh.Id == id)
        {
            return Result(fresh, $"{Describe(fresh)}, cached");
        }

        if (_cache.RecentFailure(name, id, _time.GetUtcNow()) is { } failedAt)
        {
            // Not asked again so soon (RFC 8461 3.3): a policy host that is down must not cost every delivery a fetch.
            var notAgain = $"fetch of id {id} failed at {Stamp(failedAt)}; not tried again before {Stamp(failedAt + MtaStsCache.RetryAfterFailure)}";
            return fresh is not null
                ? Result(fresh, $"{Describe(fresh)}, cached; {notAgain}")
                : Result(null, $"{notAgain}; {noCache}") with { Failure = TlsReportResult.StsPolicyFetchError };
        }

        var fetched = await new MtaStsFetcher(_dns, _options, _time).FetchAsync(name, cancellationToken).ConfigureAwait(false);
        var now = _time.GetUtcNow();
        string? why;
        var failure = fetched.WebPkiInvalid ? TlsReportResult.StsWebpkiInvalid : TlsReportResult.StsPolicyFetchError;
        if (fetched.Body is { } body)
        {
            var policy = MtaStsPolicy.Parse(body, id, now, out var error);
            if (policy is not null)
            {
                var stored = _cache.Store(name, id, now, body);
                _cache.ForgetFailure(name);
                return Result(policy, $"{Describe(policy)}, fetched{(stored is null ? "" : "; not cached: " + stored)}");
            }

            why = $"policy not valid: {error}";
            failure = TlsReportResult.StsPolicyInvalid;
        }
        else
        {
            why = fetched.Error;
        }

        why = $"fetch of id {id} failed: {why}";
        _cache.RememberFailure(name, id, now);
        return fresh is not null
            ? Result(fresh, $"{Describe(fresh)}, cached; {why}")
            : Result(null, $"{why}; {noCache}") with { Failure = failure };
    }

    /// <summary>
    /// The id of the domain's single valid <c>_mta-sts</c> record; or null, with a one-line reason and whether the
    /// lookup failed temporarily (as opposed to there being no usable record).
    /// </summary>
    private async Task<(string? Id, string? Problem, bool Temporary)> LookupRecordAsync(string domain, CancellationToken cancellationToken)
    {
        var owner = "_mta-sts." + domain;
        var (status, _, records, _, _) = await CnameChain.FollowAsync(_dns, DomainName.Parse(owner), RecordType.Txt, null, cancellationToken).ConfigureAwait(false);
        switch (status)
        {
            case DnsStatus.TemporaryFailure:
                return (null, $"{owner} TXT lookup failed temporarily", true);
            case DnsStatus.NoSuchName:
                return (null, $"no {owner} record", false);
            default:
                break;
        }

        // RFC 8461 3.1: records not starting "v=STSv1;" are discarded; if not exactly one remains, there is none.
        var ours = records.OfType<TxtRecord>().Select(r => r.TextData).Where(MtaStsRecord.IsStsRecord).ToList();
        if (ours.Count == 0)
        {
            return (null, $"no {owner} record", false);
        }

        if (ours.Count > 1)
        {
            return (null, $"{ours.Count} v=STSv1 records at {owner}: none is valid", false);
        }

        var id = MtaStsRecord.ParseId(ours[0], out var error);
        return id is null ? (null, $"{owner} record not valid: {error}", false) : (id, null, false);
    }

    /// <summary>
    /// The policy domain as looked up and as the cache file's name: lower case, no final dot, letters, digits,
    /// hyphens and underscores in labels of 1 to 63, short enough that <c>_mta-sts.</c> fits in front. So never a
    /// path: no slash, no leading dot. Literals and non-ASCII names have no policy.
    /// </summary>
    internal static bool TryPolicyDomain(string domain, out string name)
    {
        name = (domain.EndsWith('.') ? domain[..^1] : domain).ToLowerInvariant();
        if (name.Length is 0 || name.Length > 253 - "_mta-sts.".Length)
        {
            return false;
        }

        foreach (var label in name.Split('.'))
        {
            if (label.Length is 0 or > 63 || !label.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
            {
                return false;
            }
        }

        return true;
    }

    private static string Describe(MtaStsPolicy policy) =>
        $"{policy.Mode.ToString().ToLowerInvariant()}, id {policy.Id}, max_age {(long)policy.MaxAge.TotalSeconds}";

    private static string Stamp(DateTimeOffset when) =>
        when.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The result, its detail made one clean line for the log, whatever a server or an exception said.</summary>
    private static MtaStsResult Result(MtaStsPolicy? policy, string detail) => new(policy, Clean(detail));

    private static string Clean(string text) =>
        string.Create(text.Length, text, (span, t) =>
        {
            for (var i = 0; i < t.Length; i++)
            {
                span[i] = char.IsControl(t[i]) ? '?' : t[i];
            }
        });
}
