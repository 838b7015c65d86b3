using System.Net;
using System.Net.Sockets;
using QRemote.Smtp;

namespace QRemote.Tests.Smtp;

/// <summary>control/outgoingip's addresses, one per family: each connection takes the one of its own family.</summary>
public sealed class ConnectorTests
{
    [TestCase("127.0.0.1", "127.0.0.77")]
    [TestCase("::1", "::1")]
    public async Task The_source_address_is_the_outgoingip_of_the_connections_family(string listen, string expectedSource)
    {
        var address = IPAddress.Parse(listen);
        using var listener = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(address, 0));
        listener.Listen(1);
        var accepting = listener.AcceptAsync();
        var sources = new[] { IPAddress.Parse("127.0.0.77"), IPAddress.IPv6Loopback };
        var result = await Connector.ConnectAsync((IPEndPoint)listener.LocalEndPoint!, TimeSpan.FromSeconds(5), CancellationToken.None, sources);
        using var client = result.Socket;
        using var server = await accepting;
        Assert.That(client, Is.Not.Null, result.Error);
        Assert.That(((IPEndPoint)server.RemoteEndPoint!).Address, Is.EqualTo(IPAddress.Parse(expectedSource)));
    }
}
