using QRemote.Delivery;
using QRemote.Dns;
using QRemote.Qmail;

namespace QRemote.Tests.Infrastructure;

/// <summary>What <see cref="Harness.DeliverAsync(string, string, string[], byte[], DeliverySetup?)"/> delivers with; each
/// default is the harness's usual one, so a test names only what it changes.</summary>
internal sealed record DeliverySetup
{
    /// <summary>Null: <see cref="Harness.Config"/>'s defaults.</summary>
    public QmailConfig? Config { get; init; }

    public int SmtpPort { get; init; } = 25;

    /// <summary>Null: a resolver at 127.0.0.1#1, which answers nothing (literal hosts need none).</summary>
    public string? ResolvConf { get; init; }

    /// <summary>Null: seeded with 1, so equal-preference exchangers are tried in one fixed order.</summary>
    public Random? Random { get; init; }

    /// <summary>Null: 127.0.0.1 and ::1 are this host's.</summary>
    public ILocalAddresses? Local { get; init; }

    public string? QmailHome { get; init; }

    /// <summary>Also written to the test's output when given.</summary>
    public TextWriter? Transcript { get; init; }

    public Func<string, IDnsLookup, CancellationToken, Task<StsRequirement?>>? MtaSts { get; init; }

    public ISessionCache? Connections { get; init; }

    public DnsCache? DnsCache { get; init; }

    /// <summary>Records TLS results (TLS reporting); null: nothing recorded.</summary>
    public QRemote.Tls.TlsReportRecorder? TlsReport { get; init; }
}
