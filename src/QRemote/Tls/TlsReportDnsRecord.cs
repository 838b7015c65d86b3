using ARSoft.Tools.Net;
using ARSoft.Tools.Net.Dns;
using QRemote.Dns;

namespace QRemote.Tls;

/// <summary>
/// A domain's TLSRPT record (RFC 8460 section 3): the TXT record at <c>_smtp._tls.DOMAIN</c> that starts
/// <c>v=TLSRPTv1</c>, with its <c>rua=</c> list of <c>mailto:</c> and <c>https:</c> URIs. Exactly one such record,
/// or the domain has none; URIs of other schemes and unknown fields are ignored; at most <see cref="MaxRua"/> URIs are
/// used, whatever the record lists.
/// </summary>
/// <param name="Rua">The usable report destinations, in the record's order.</param>
/// <param name="Text">The record as published (tlsrpt-collectd's datagram carries it).</param>
/// <param name="Ignored">What was left out, one phrase each (for the person running the reporter).</param>
internal sealed record TlsReportDnsRecord(IReadOnlyList<Uri> Rua, string Text, IReadOnlyList<string> Ignored)
{
    /// <summary>Report destinations used per domain: a record listing thousands costs a reporter no more than this.</summary>
    public const int MaxRua = 5;

    private const string Version = "v=TLSRPTv1";

    /// <summary>Whether a TXT string is a TLSRPT record (RFC 8460 3: "v=TLSRPTv1" first, then a field delimiter).</summary>
    public static bool IsTlsRptRecord(string text) =>
        text.StartsWith(Version, StringComparison.Ordinal) && text.AsSpan(Version.Length).TrimStart(" \t").StartsWith(";");

    /// <summary>Parses a record by RFC 8460 3's grammar; null with <paramref name="error"/> when it is not valid or names no
    /// usable destination.</summary>
    public static TlsReportDnsRecord? Parse(string text, out string? error)
    {
        if (!IsTlsRptRecord(text))
        {
            error = "does not start with v=TLSRPTv1;";
            return null;
        }

        var fields = text[Version.Length..].Split(';').Select(f => f.Trim(' ', '\t')).ToList();
        var rua = fields.Where(f => f.StartsWith("rua=", StringComparison.Ordinal)).ToList();
        if (rua.Count != 1)
        {
            error = rua.Count == 0 ? "no rua=" : $"{rua.Count} rua= fields";
            return null;
        }

        var uris = new List<Uri>();
        var ignored = new List<string>();
        foreach (var item in rua[0]["rua=".Length..].Split(','))
        {
            var candidate = item.Trim(' ', '\t');
            if (uris.Count >= MaxRua)
            {
                ignored.Add($"{candidate}: over {MaxRua} destinations");
            }
            else if (Destination(candidate) is { } uri)
            {
                uris.Add(uri);
            }
            else
            {
                ignored.Add($"{candidate}: not a mailto: address or https: URL");
            }
        }

        if (uris.Count == 0)
        {
            error = "rua= names no mailto: address or https: URL";
            return null;
        }

        error = null;
        return new TlsReportDnsRecord(uris, text, ignored);
    }

    /// <summary>The text of the one TLSRPT record at <paramref name="owner"/> (CNAMEs followed), or null: none, several,
    /// or a failed lookup.</summary>
    public static async Task<string?> RecordTextAsync(IDnsLookup dns, DomainName owner, CancellationToken cancellationToken)
    {
        var (status, records) = await TxtAsync(dns, owner, cancellationToken).ConfigureAwait(false);
        return status == DnsStatus.Ok && records.Count == 1 ? records[0] : null;
    }

    /// <summary>The domain's record; or null with why, and whether asking again later may help (a failed lookup).</summary>
    public static async Task<(TlsReportDnsRecord? Record, string? Problem, bool Temporary)> LookupAsync(IDnsLookup dns, string domain, CancellationToken cancellationToken)
    {
        var ownerText = "_smtp._tls." + domain;
        if (!DomainName.TryParse(ownerText, out var owner) || owner is null)
        {
            return (null, $"{ownerText} is not a domain name", false);
        }

        var (status, records) = await TxtAsync(dns, owner, cancellationToken).ConfigureAwait(false);
        switch (status)
        {
            case DnsStatus.TemporaryFailure:
                return (null, $"{ownerText} TXT lookup failed temporarily", true);
            case DnsStatus.NoSuchName:
                return (null, $"no {ownerText} record", false);
            default:
                break;
        }

        if (records.Count != 1)
        {
            return (null, records.Count == 0 ? $"no {ownerText} record" : $"{records.Count} v=TLSRPTv1 records at {ownerText}: none is valid", false);
        }

        var record = Parse(records[0], out var error);
        return record is null ? (null, $"{ownerText} record not valid: {error}", false) : (record, null, false);
    }

    private static async Task<(DnsStatus Status, IReadOnlyList<string> Records)> TxtAsync(IDnsLookup dns, DomainName owner, CancellationToken cancellationToken)
    {
        var (status, _, records, _, _) = await CnameChain.FollowAsync(dns, owner, RecordType.Txt, null, cancellationToken).ConfigureAwait(false);
        return (status, records.OfType<TxtRecord>().Select(r => r.TextData).Where(IsTlsRptRecord).ToList());
    }

    /// <summary>A <c>mailto:</c> URI with one plain address, or an absolute <c>https:</c> URL with a host; else null.</summary>
    private static Uri? Destination(string text)
    {
        if (text.Length is 0 or > 2048 || !Uri.TryCreate(text, UriKind.Absolute, out var uri))
        {
            return null;
        }

        if (uri.Scheme == Uri.UriSchemeHttps)
        {
            return uri.Host.Length > 0 && uri.UserInfo.Length == 0 ? uri : null;
        }

        return uri.Scheme == Uri.UriSchemeMailto && MailtoAddress(uri) is not null ? uri : null;
    }

    /// <summary>The address of a <c>mailto:</c> URI (its query part ignored), when it is one a qmail-inject argument may be:
    /// local@domain, no white space or control characters, not starting with '-'.</summary>
    public static string? MailtoAddress(Uri uri)
    {
        var raw = uri.OriginalString["mailto:".Length..];
        var query = raw.IndexOf('?', StringComparison.Ordinal);
        string address;
        try
        {
            address = Uri.UnescapeDataString(query < 0 ? raw : raw[..query]);
        }
        catch (UriFormatException)
        {
            return null;
        }

        var at = address.LastIndexOf('@');
        return address.Length is > 0 and <= 254 && at > 0 && at < address.Length - 1 && !address.StartsWith('-')
            && !address.Any(c => char.IsControl(c) || char.IsWhiteSpace(c) || c is ',' or '<' or '>' or '"' or '\\' or '(' or ')')
            ? address : null;
    }
}
