using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using QRemote.Dns;

namespace QRemote.Tests.Dns;

/// <summary>
/// The self check's list of this host's addresses ("MX points to me", #5.4.6), read with getifaddrs(3) rather than
/// through NetworkInterface: the same addresses, or an MX naming this host would be delivered to (a loop) or one
/// naming another refused. PublishedBinaryTests.Mx_is_this_host checks the whole path in a namespace of its own.
/// </summary>
public sealed class HostLocalAddressesTests
{
    private static HashSet<IPAddress> FromRuntime()
    {
        var set = new HashSet<IPAddress> { IPAddress.Any, IPAddress.IPv6Any };
        foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
        {
            foreach (var unicast in nic.GetIPProperties().UnicastAddresses)
            {
                var a = unicast.Address;
                set.Add(a.AddressFamily == AddressFamily.InterNetworkV6 ? new IPAddress(a.GetAddressBytes()) : a);
            }
        }

        return set;
    }

    [Test]
    public void The_addresses_are_exactly_those_the_runtime_lists_for_every_interface()
    {
        var ours = HostLocalAddresses.Read();
        Assert.That(ours, Is.EquivalentTo(FromRuntime()));
        Assert.That(ours, Does.Contain(IPAddress.Loopback));
    }

    [Test]
    public void Each_address_and_the_IPv4_mapped_form_of_each_is_local()
    {
        var local = new HostLocalAddresses();
        foreach (var a in FromRuntime())
        {
            Assert.That(local.IsLocal(a), Is.True, a.ToString());
            if (a.AddressFamily == AddressFamily.InterNetwork)
            {
                Assert.That(local.IsLocal(a.MapToIPv6()), Is.True, "mapped " + a);
            }
        }
    }

    [Test]
    public void An_address_of_another_host_is_not_local()
    {
        var local = new HostLocalAddresses();
        Assert.That(local.IsLocal(IPAddress.Parse("192.0.2.1")), Is.False);
        Assert.That(local.IsLocal(IPAddress.Parse("2001:db8::1")), Is.False);
    }
}
