namespace QRemote.Dns;

/// <summary>How a delivery's addresses were found. It decides what DNSSEC can vouch for (DANE: the MX answer too,
/// or only the relay's addresses) and whether MTA-STS applies (MX only); <see cref="Name"/> is what the log shows.</summary>
internal sealed record RouteKind
{
    private RouteKind(string name, bool byMx)
    {
        Name = name;
        ByMx = byMx;
    }

    /// <summary>The domain's MX records.</summary>
    public static RouteKind Mx { get; } = new("MX", byMx: true);

    /// <summary>No MX records: the domain's own addresses (RFC 5321 5.1).</summary>
    public static RouteKind ImplicitMx { get; } = new("implicit MX", byMx: true);

    /// <summary>An address literal, <c>[192.0.2.1]</c>: no DNS at all.</summary>
    public static RouteKind Literal { get; } = new("literal", byMx: false);

    /// <summary>A relay from control/smtproutes.</summary>
    public static RouteKind Smtproutes { get; } = new("smtproutes", byMx: false);

    public string Name { get; }

    /// <summary>Found by an MX query (explicit or implicit), so the MX answer's DNSSEC status counts.</summary>
    public bool ByMx { get; }

    public override string ToString() => Name;
}
