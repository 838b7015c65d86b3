using System.Net;
using System.Text;
using QRemote.Delivery;
using QRemote.Dns;
using QRemote.Message;
using QRemote.Qmail;

namespace QRemote.Tests.Infrastructure;

/// <summary>Runs a delivery in-process, as the binary would, and returns the exact report bytes.</summary>
internal static class Harness
{
    public static QmailConfig Config(string routes = "", int timeoutRemote = 20, int timeoutConnect = 5) => new()
    {
        HeloHost = "qremote.test",
        Routes = SmtpRoutes.Parse(routes.Split('\n', StringSplitOptions.RemoveEmptyEntries)),
        TimeoutRemote = timeoutRemote,
        TimeoutConnect = timeoutConnect,
    };

    public static async Task<string> DeliverAsync(string host, string sender, string[] recipients, byte[] message,
        QmailConfig? config = null, int smtpPort = 25, string? resolvConf = null, Random? random = null, ILocalAddresses? local = null, string? qmailHome = null,
        TextWriter? transcript = null, Func<string, IDnsLookup, CancellationToken, Task<StsRequirement?>>? mtaSts = null,
        ISessionCache? connections = null, DnsCache? dnsCache = null)
    {
        await using var source = await MessageSource.OpenAsync(new MemoryStream(message), Path.GetTempPath(), CancellationToken.None);
        var options = new DeliveryOptions
        {
            Config = config ?? Config(),
            Resolver = resolvConf is null ? ResolverConfig.Parse("nameserver 127.0.0.1#1\noptions timeout:1 attempts:1") : ResolverConfig.Load(resolvConf),
            SmtpPort = smtpPort,
            Random = random ?? new Random(1),
            LocalAddresses = local ?? new FixedLocalAddresses(IPAddress.Loopback, IPAddress.IPv6Loopback),
            Transcript = transcript is null ? TestContext.Out : new QRemote.Logging.TeeWriter(transcript, TestContext.Out),
            QmailHome = qmailHome,
            MtaSts = mtaSts,
            Connections = connections,
            DnsCache = dnsCache,
        };
        var report = await Deliverer.DeliverAsync(new Invocation(host, sender, recipients), source, options, CancellationToken.None);
        return Shown(ReportWriter.Format(report));
    }

    public static Task<string> DeliverAsync(string host, string sender, string[] recipients, string message, QmailConfig? config = null, int smtpPort = 25) =>
        DeliverAsync(host, sender, recipients, Encoding.UTF8.GetBytes(message), config, smtpPort);

    /// <summary>Report bytes as a string with each NUL shown as \0, so assertions read like qmail's output.</summary>
    public static string Shown(byte[] bytes) => Encoding.UTF8.GetString(bytes).Replace("\0", "\\0", StringComparison.Ordinal);

    /// <summary>The literal host for a loopback address.</summary>
    public static string Literal(IPAddress address) =>
        address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[IPv6:{address}]" : $"[{address}]";
}
