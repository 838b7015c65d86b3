using System.Globalization;

namespace QRemote.Tls;

/// <summary>
/// One MTA-STS policy (RFC 8461 section 3.2), as fetched from
/// <c>https://mta-sts.DOMAIN/.well-known/mta-sts.txt</c> under the TXT record id <paramref name="Id"/>.
/// </summary>
/// <param name="Mode">The policy's mode.</param>
/// <param name="MxPatterns">The <c>mx</c> lines, lower case, without a final dot: names, or <c>*.</c> and a name.</param>
/// <param name="MaxAge">How long the policy may be used from <paramref name="Fetched"/> (at most <see cref="MaxMaxAgeSeconds"/>).</param>
/// <param name="Id">The <c>id=</c> of the <c>_mta-sts</c> TXT record the policy was fetched under.</param>
/// <param name="Fetched">When the policy was fetched.</param>
internal sealed record MtaStsPolicy(MtaStsMode Mode, IReadOnlyList<string> MxPatterns, TimeSpan MaxAge, string Id, DateTimeOffset Fetched)
{
    /// <summary>The RFC's ceiling for <c>max_age</c>: 31557600 seconds, one year of 365.25 days.</summary>
    public const long MaxMaxAgeSeconds = 31_557_600;

    /// <summary>When the policy stops being usable (RFC 8461 section 5.1: max_age from the fetch).</summary>
    public DateTimeOffset Expires => Fetched + MaxAge;

    /// <summary>Whether the policy may still be applied at <paramref name="now"/>.</summary>
    public bool IsFreshAt(DateTimeOffset now) => now < Expires;

    /// <summary>When the policy is due to be fetched again: half its max_age after the fetch, so that a refresh has the
    /// other half to succeed before the policy lapses (RFC 8461 10.2 asks for refreshes before expiry).</summary>
    public DateTimeOffset RefreshDue => Fetched + (MaxAge / 2);

    /// <summary>Whether the policy is still usable at <paramref name="now"/> but in its refresh window.</summary>
    public bool RefreshDueAt(DateTimeOffset now) => IsFreshAt(now) && now >= RefreshDue;

    /// <summary>
    /// Parses a policy body by RFC 8461 section 3.2's grammar: <c>key: value</c> lines ending in LF or CRLF;
    /// <c>version: STSv1</c>, <c>mode</c> (testing, enforce or none), <c>max_age</c> (1 to 10 digits) once each,
    /// <c>mx</c> at least once unless the mode is none. Keys and values are case-sensitive, as the grammar's
    /// <c>%s</c> strings are. Unknown keys are ignored; a repeated key other than <c>mx</c> counts only the first
    /// time. Two leniencies, both harmless: blank lines are skipped, and a max_age over
    /// <see cref="MaxMaxAgeSeconds"/> is cut to it (rejecting it would drop the protection the domain asked for).
    /// </summary>
    /// <returns>The policy, or null with <paramref name="error"/> saying (in one line) why not.</returns>
    public static MtaStsPolicy? Parse(string text, string id, DateTimeOffset fetched, out string? error)
    {
        if (ReadFields(text, out error) is not var (version, mode, maxAge, mx))
        {
            return null;
        }

        if (version != "STSv1")
        {
            error = version is null ? "no version" : $"version is \"{version}\", not STSv1";
            return null;
        }

        MtaStsMode parsedMode;
        switch (mode)
        {
            case "enforce":
                parsedMode = MtaStsMode.Enforce;
                break;
            case "testing":
                parsedMode = MtaStsMode.Testing;
                break;
            case "none":
                parsedMode = MtaStsMode.None;
                break;
            case null:
                error = "no mode";
                return null;
            default:
                error = $"mode is \"{mode}\", not enforce, testing or none";
                return null;
        }

        if (maxAge is null)
        {
            error = "no max_age";
            return null;
        }

        if (maxAge.Length > 10 || !maxAge.All(char.IsAsciiDigit))
        {
            error = $"max_age \"{maxAge}\" is not 1 to 10 digits";
            return null;
        }

        var seconds = Math.Min(long.Parse(maxAge, NumberStyles.None, CultureInfo.InvariantCulture), MaxMaxAgeSeconds);
        if (mx.Count == 0 && parsedMode != MtaStsMode.None)
        {
            error = "no mx";
            return null;
        }

        error = null;
        return new MtaStsPolicy(parsedMode, mx.Distinct(StringComparer.Ordinal).ToArray(), TimeSpan.FromSeconds(seconds), id, fetched);
    }

    /// <summary>The fields of a policy body (the first of each, every <c>mx</c>); null, with <paramref name="error"/>
    /// naming the line, at the first line that is not <c>key: value</c> or holds a bad mx pattern.</summary>
    private static (string? Version, string? Mode, string? MaxAge, List<string> Mx)? ReadFields(string text, out string? error)
    {
        string? version = null;
        string? mode = null;
        string? maxAge = null;
        var mx = new List<string>();
        var lineNumber = 0;
        foreach (var rawLine in text.Split('\n'))
        {
            lineNumber++;
            var line = rawLine.EndsWith('\r') ? rawLine[..^1] : rawLine;
            if (line.Length == 0)
            {
                continue;
            }

            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0 || !IsFieldName(line.AsSpan(0, colon)))
            {
                error = $"line {lineNumber} is not \"key: value\"";
                return null;
            }

            var key = line[..colon];
            // field-delim is ":" *WSP, and *WSP may end every line.
            var value = line[(colon + 1)..].Trim(Wsp);
            if (value.Length == 0 || value.Any(char.IsControl))
            {
                error = $"line {lineNumber} ({key}) has no value or a control character";
                return null;
            }

            switch (key)
            {
                case "version":
                    version ??= value;
                    break;
                case "mode":
                    mode ??= value;
                    break;
                case "max_age":
                    maxAge ??= value;
                    break;
                case "mx":
                    var pattern = value.EndsWith('.') ? value[..^1] : value;
                    if (!IsMxPattern(pattern))
                    {
                        error = $"line {lineNumber}: mx \"{value}\" is not a host name or *.name";
                        return null;
                    }

                    mx.Add(pattern.ToLowerInvariant());
                    break;
                default:
                    // RFC 8461 3.2: unknown fields SHALL be ignored.
                    break;
            }
        }

        error = null;
        return (version, mode, maxAge, mx);
    }

    /// <summary>
    /// Whether an MX host is one the policy names (RFC 8461 section 4.1): equal to a pattern, or, for a pattern
    /// <c>*.example.com</c>, exactly one label followed by <c>.example.com</c> (so not <c>a.b.example.com</c>, nor
    /// <c>example.com</c>). Letter case and a final dot on <paramref name="host"/> do not matter.
    /// </summary>
    public bool MatchesMx(string host)
    {
        var name = (host.EndsWith('.') ? host[..^1] : host).ToLowerInvariant();
        // Patterns are ASCII (A-labels, RFC 8461 4.1); an MX name in U-labels is compared in its A-label form.
        if (!System.Text.Ascii.IsValid(name))
        {
            name = MtaStsResolver.ToALabels(name) ?? "";
        }

        if (name.Length == 0)
        {
            return false;
        }

        foreach (var pattern in MxPatterns)
        {
            if (pattern.StartsWith("*.", StringComparison.Ordinal))
            {
                var suffix = pattern[1..]; // ".example.com"
                if (name.Length > suffix.Length && name.EndsWith(suffix, StringComparison.Ordinal)
                    && name.AsSpan(0, name.Length - suffix.Length).IndexOf('.') < 0)
                {
                    return true;
                }
            }
            else if (name == pattern)
            {
                return true;
            }
        }

        return false;
    }

    private static readonly char[] Wsp = [' ', '\t'];

    /// <summary>sts-policy-ext-name: (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / "."); the known keys fit it.</summary>
    internal static bool IsFieldName(ReadOnlySpan<char> name)
    {
        if (name.Length is 0 or > 32 || !char.IsAsciiLetterOrDigit(name[0]))
        {
            return false;
        }

        foreach (var c in name[1..])
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('_' or '-' or '.'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>sts-policy-mx-value: ["*."] Domain, Domain being RFC 5321's (labels of letters, digits and inner
    /// hyphens, starting with a letter or digit).</summary>
    private static bool IsMxPattern(string value)
    {
        var name = value.StartsWith("*.", StringComparison.Ordinal) ? value[2..] : value;
        if (name.Length is 0 or > 253)
        {
            return false;
        }

        foreach (var label in name.Split('.'))
        {
            if (label.Length is 0 or > 63 || !char.IsAsciiLetterOrDigit(label[0]) || !char.IsAsciiLetterOrDigit(label[^1])
                || !label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'))
            {
                return false;
            }
        }

        return true;
    }
}
