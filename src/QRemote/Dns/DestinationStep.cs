using QRemote.Qmail;

namespace QRemote.Dns;

/// <summary>What <see cref="DestinationList.EnumerateGroupsAsync"/> produces: the next exchanger's addresses, or, as the
/// last step of an enumeration that found nothing at all to try, why (with its report).</summary>
internal abstract record DestinationStep
{
    private DestinationStep()
    {
    }

    /// <summary>One exchanger's addresses, in the order to try them (IPv6 and IPv4 race; one TLS policy).</summary>
    public sealed record Exchanger(IReadOnlyList<Destination> Addresses) : DestinationStep;

    /// <summary>Nothing could be tried: no addresses, this host is the best exchanger, or a lookup failed temporarily.</summary>
    public sealed record NothingToTry(DeliveryReport Report) : DestinationStep;
}
