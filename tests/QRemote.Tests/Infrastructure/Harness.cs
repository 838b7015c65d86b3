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

    public static async Task<string> DeliverAsync(string host, string sender, string[] recipients, byte[] message, DeliverySetup? setup = null)
    {
        setup ??= new DeliverySetup();
        await using var source = await MessageSource.OpenAsync(new MemoryStream(message), Path.GetTempPath(), CancellationToken.None);
        var options = new DeliveryOptions
        {
            Config = setup.Config ?? Config(),
            Resolver = setup.ResolvConf is null ? ResolverConfig.Parse("nameserver 127.0.0.1#1\noptions timeout:1 attempts:1") : ResolverConfig.Load(setup.ResolvConf),
            SmtpPort = setup.SmtpPort,
            Random = setup.Random ?? new Random(1),
            LocalAddresses = setup.Local ?? new FixedLocalAddresses(IPAddress.Loopback, IPAddress.IPv6Loopback),
            Transcript = setup.Transcript is null ? TestContext.Out : new QRemote.Logging.TeeWriter(setup.Transcript, TestContext.Out),
            QmailHome = setup.QmailHome,
            MtaSts = setup.MtaSts,
            Connections = setup.Connections,
            DnsCache = setup.DnsCache,
            TlsReport = setup.TlsReport,
        };
        var report = await Deliverer.DeliverAsync(new Invocation(host, sender, recipients), source, options, CancellationToken.None);
        return Shown(ReportWriter.Format(report));
    }

    public static Task<string> DeliverAsync(string host, string sender, string[] recipients, string message, DeliverySetup? setup = null) =>
        DeliverAsync(host, sender, recipients, Encoding.UTF8.GetBytes(message), setup);

    /// <summary>Report bytes as a string with each NUL shown as \0, so assertions read like qmail's output.</summary>
    public static string Shown(byte[] bytes) => Encoding.UTF8.GetString(bytes).Replace("\0", "\\0", StringComparison.Ordinal);

    /// <summary>The literal host for a loopback address.</summary>
    public static string Literal(IPAddress address) =>
        address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[IPv6:{address}]" : $"[{address}]";
}
