using QRemote.Qmail;

namespace QRemote.Dns;

/// <summary>Where the mail goes, or why it cannot go anywhere. Failures carry their report: whether a
/// DNS failure is temporary or permanent is decided here, where it is seen.</summary>
internal abstract record Resolution
{
    private Resolution()
    {
    }

    /// <summary>Addresses in the order to try them. <paramref name="Route"/> says how they were found.</summary>
    public sealed record Found(DestinationList Destinations, RouteKind Route) : Resolution;

    public sealed record Failed(DeliveryReport Report) : Resolution;
}
