namespace QRemote.Tls;

/// <summary>RFC 8460 4.4's <c>policy-type</c> of a recorded result (<c>no-policy-found</c> is never recorded).</summary>
internal enum TlsReportPolicyType
{
    Tlsa,
    Sts,
}

/// <summary>What a TLS policy reports under (RFC 8460 4.4's <c>policy</c>): its type and its strings (the TLSA records in
/// presentation format, or the MTA-STS policy's lines), and, for a policy that could not be applied at all, why.</summary>
/// <param name="Failure">Set when the exchanger is not tried because of the policy (its TLSA lookup failed, it is outside
/// the MTA-STS policy's mx list): the result recorded for it.</param>
internal sealed record TlsReportPolicy(TlsReportPolicyType Type, IReadOnlyList<string> Strings, TlsReportResult? Failure = null)
{
    public string TypeName => Type == TlsReportPolicyType.Tlsa ? "tlsa" : "sts";

    /// <summary>The <c>mx</c> values of an MTA-STS policy's lines (RFC 8460 4.4's <c>mx-host</c>); none for TLSA.</summary>
    public IReadOnlyList<string> MxPatterns =>
        Type == TlsReportPolicyType.Sts ? Strings.Where(s => s.StartsWith("mx: ", StringComparison.Ordinal)).Select(s => s[4..]).ToList() : [];

    /// <summary>An MTA-STS policy as RFC 8460 4.4's policy-string: its lines, in the order RFC 8461 3.2 lists the keys.</summary>
    public static IReadOnlyList<string> StsLines(MtaStsPolicy policy) =>
    [
        "version: STSv1",
        "mode: " + policy.Mode.ToString().ToLowerInvariant(),
        .. policy.MxPatterns.Select(p => "mx: " + p),
        "max_age: " + ((long)policy.MaxAge.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture),
    ];
}
