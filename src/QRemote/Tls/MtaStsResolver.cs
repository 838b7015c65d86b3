using System.Globalization;
using System.Text;
using ARSoft.Tools.Net;
using ARSoft.Tools.Net.Dns;
using QRemote.Dns;

namespace QRemote.Tls;

/// <summary>
/// MTA-STS policy discovery for one recipient domain (RFC 8461 sections 3 and 5.1):
/// <list type="number">
/// <item>TXT at <c>_mta-sts.DOMAIN</c> (CNAMEs followed): exactly one record starting <c>v=STSv1;</c>, with an id.</item>
/// <item>Its id equal to the cached policy's, and that policy unexpired and not yet in its refresh window (past half
/// its max_age: <see cref="MtaStsPolicy.RefreshDueAt"/>): the cached policy, nothing fetched.</item>
/// <item>In the refresh window: fetched again, with or without a TXT record; a failure keeps the cached policy.</item>
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
            return Result(null, $"{ReportableName(domain)} is not a domain name: no policy");
        }

        var cached = _cache.Load(name);
        var fresh = cached is not null && cached.IsFreshAt(_time.GetUtcNow()) ? cached : null;
        // In its refresh window (past half its max_age) a fresh policy is fetched again, whatever the TXT record
        // says, so that neither a quiet domain nor an attacker blocking DNS lets it run out (RFC 8461 10.2).
        var due = fresh is not null && fresh.RefreshDueAt(_time.GetUtcNow());
        // Why the cached one is not used, when there is one: said when nothing else is found.
        var noCache = cached is null ? "no cached policy" : $"cached policy id {cached.Id} expired {Stamp(cached.Expires)}";

        var (id, recordProblem, temporary) = await LookupRecordAsync(name, cancellationToken).ConfigureAwait(false);
        if (id is null && !due)
        {
            return fresh is not null
                ? Result(fresh, $"{Describe(fresh)}, cached; {recordProblem}")
                : Result(null, temporary ? $"{recordProblem}; {noCache}" : recordProblem!);
        }

        if (fresh is not null && fresh.Id == id && !due)
        {
            return Result(fresh, $"{Describe(fresh)}, cached");
        }

        // A refresh without a usable TXT record keeps the cached id: the id names a version, and none is announced.
        var fetchId = id ?? fresh!.Id;
        var refresh = fresh is not null && fresh.Id == fetchId;
        // What the TXT lookup said, when a refresh went ahead without it.
        var record = id is null ? $"; {recordProblem}" : "";
        if (_cache.RecentFailure(name, fetchId, _time.GetUtcNow()) is { } failedAt)
        {
            // Not asked again so soon (RFC 8461 3.3): a policy host that is down must not cost every delivery a fetch.
            var notAgain = $"fetch of id {fetchId} failed at {Stamp(failedAt)}; not tried again before {Stamp(failedAt + MtaStsCache.RetryAfterFailure)}";
            return fresh is not null
                ? Result(fresh, $"{Describe(fresh)}, cached; {notAgain}{record}")
                : Result(null, $"{notAgain}; {noCache}") with { Failure = TlsReportResult.StsPolicyFetchError };
        }

        var fetched = await new MtaStsFetcher(_dns, _options, _time).FetchAsync(name, cancellationToken).ConfigureAwait(false);
        var now = _time.GetUtcNow();
        string? why;
        var failure = fetched.WebPkiInvalid ? TlsReportResult.StsWebpkiInvalid : TlsReportResult.StsPolicyFetchError;
        if (fetched.Body is { } body)
        {
            var policy = MtaStsPolicy.Parse(body, fetchId, now, out var error);
            if (policy is not null)
            {
                var stored = _cache.Store(name, fetchId, now, body);
                _cache.ForgetFailure(name);
                return Result(policy, $"{Describe(policy)}, {(refresh ? "refreshed" : "fetched")}{(stored is null ? "" : "; not cached: " + stored)}{record}");
            }

            why = $"policy not valid: {error}";
            failure = TlsReportResult.StsPolicyInvalid;
        }
        else
        {
            why = fetched.Error;
        }

        // RFC 8461 5.1: a failed fetch never replaces a policy that is still valid; that one is applied until it expires.
        why = $"fetch of id {fetchId} failed: {why}";
        _cache.RememberFailure(name, fetchId, now);
        return fresh is not null
            ? Result(fresh, $"{Describe(fresh)}, cached; {why}{record}")
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
    /// path: no slash, no leading dot. A name with U-labels becomes its A-labels (RFC 8461 3.3 and 4.1:
    /// <see cref="ToALabels"/>); literals and names that are not valid IDNs have no policy.
    /// </summary>
    internal static bool TryPolicyDomain(string domain, out string name)
    {
        name = (domain.EndsWith('.') ? domain[..^1] : domain).ToLowerInvariant();
        if (!Ascii.IsValid(name))
        {
            if (ToALabels(name) is not { } aLabels)
            {
                return false;
            }

            name = aLabels;
        }

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

    private static readonly IdnMapping Idna = new() { UseStd3AsciiRules = true, AllowUnassigned = false };

    /// <summary>
    /// The A-label form (<c>xn--...</c>, lower case) of a name with U-labels, or null when it is not a name IDNA can
    /// carry. The binary runs with invariant globalization (no ICU): <see cref="IdnMapping"/> then encodes Punycode
    /// and checks the STD3 rules and label lengths, but maps and normalizes nothing. So the case mapping is done here
    /// first (<see cref="string.ToLowerInvariant"/>, full Unicode simple case mapping even in invariant mode), and a
    /// label is refused unless each of its code points is a lower-case or caseless letter, a mark or a decimal digit
    /// (RFC 5892's LetterDigits, less upper case), or ASCII: no symbols, punctuation, spaces, controls, format
    /// characters or U+FFFD (what undecodable argv bytes become). Not checked without ICU: NFC (a name in another
    /// normal form gets a different A-label, as its MX lookup does) and RFC 5892's contextual rules.
    /// </summary>
    internal static string? ToALabels(string name)
    {
        var lower = name.ToLowerInvariant();
        foreach (var rune in lower.EnumerateRunes())
        {
            if (rune.IsAscii)
            {
                continue;
            }

            switch (Rune.GetUnicodeCategory(rune))
            {
                case UnicodeCategory.LowercaseLetter or UnicodeCategory.OtherLetter or UnicodeCategory.ModifierLetter
                    or UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.DecimalDigitNumber:
                    break;
                default:
                    return null;
            }
        }

        try
        {
            return Idna.GetAscii(lower).ToLowerInvariant();
        }
        catch (ArgumentException)
        {
            return null;
        }
    }

    /// <summary>A host as it may appear in <see cref="MtaStsResult.Detail"/>: argv is anyone's (a bounce's address).</summary>
    private static string ReportableName(string domain) => domain.Length > 255 ? domain[..255] + "..." : domain;

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
