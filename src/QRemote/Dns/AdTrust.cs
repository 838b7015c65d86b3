namespace QRemote.Dns;

/// <summary>Whether answers' AD bits are believed, and why (<see cref="ResolverConfig.AdTrust"/>).</summary>
/// <param name="Trusted">The AD bit is taken as the resolver's word that it validated the answer.</param>
/// <param name="Reason">Why, for <c>--plan</c> and <c>--show-config</c>.</param>
internal sealed record AdTrust(bool Trusted, string Reason)
{
    public static AdTrust Loopback { get; } = new(true, "loopback resolver");

    public static AdTrust TrustAdOption { get; } = new(true, "options trust-ad");

    public static AdTrust Ignored { get; } = new(false, "non-loopback resolver without options trust-ad");

    /// <summary>The line <c>--plan</c> and <c>--show-config</c> print: <c>AD bit: trusted (loopback resolver)</c>.</summary>
    public string Describe() => $"AD bit: {(Trusted ? "trusted" : "ignored")} ({Reason})";
}
