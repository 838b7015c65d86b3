using System.Security.Cryptography.X509Certificates;

namespace QRemote.Tls;

/// <summary>How <see cref="MtaStsResolver"/> fetches and keeps policies.</summary>
/// <param name="CacheDirectory">One file per policy domain (docs/mta-sts.md). Null: no cache at all. A directory
/// that is missing or not writable is never an error: policies are fetched and used, just not kept.</param>
/// <param name="TrustedRoots">The only roots the policy host's certificate may chain to (WebPKI roots, e.g. read
/// from <c>/etc/ssl/certs/ca-certificates.crt</c>). Empty: no policy host can be trusted.</param>
/// <param name="HttpsPort">The policy host's port: 443 by RFC 8461; another only for tests.</param>
/// <param name="FetchTimeout">The bound on one fetch, from the policy host's DNS lookup to the last byte of the
/// body. Default <see cref="DefaultFetchTimeout"/>, the RFC's suggestion.</param>
internal sealed record MtaStsOptions(string? CacheDirectory, X509Certificate2Collection TrustedRoots, int HttpsPort = 443, TimeSpan? FetchTimeout = null)
{
    /// <summary>RFC 8461 3.3 suggests one minute.</summary>
    public static readonly TimeSpan DefaultFetchTimeout = TimeSpan.FromSeconds(60);

    /// <summary>The largest policy body taken: 64 KiB. A longer one is refused, not cut.</summary>
    public const int MaxBodyBytes = 65536;

    public TimeSpan EffectiveFetchTimeout => FetchTimeout ?? DefaultFetchTimeout;

    /// <summary>Reads the roots when a fetch first needs them, instead of <see cref="TrustedRoots"/>: most domains publish
    /// no policy, and reading the system bundle costs milliseconds (QRemote keeps .NET from reading it at all: <see cref="SystemTrust"/>).</summary>
    public Lazy<X509Certificate2Collection>? RootsOnDemand { get; init; }

    /// <summary>The roots a fetch checks against.</summary>
    public X509Certificate2Collection Roots => RootsOnDemand?.Value ?? TrustedRoots;
}
