using QRemote.Dns;
using QRemote.Qmail;

namespace QRemote.Delivery;

/// <summary>Everything a delivery depends on besides its argv and message; tests replace the parts they need.</summary>
internal sealed record DeliveryOptions
{
    public required QmailConfig Config { get; init; }

    public required ResolverConfig Resolver { get; init; }

    /// <summary>Port for MX and literal deliveries: 25 except in tests.</summary>
    public int SmtpPort { get; init; } = 25;

    public ILocalAddresses LocalAddresses { get; init; } = new HostLocalAddresses();

    /// <summary>Orders equal-preference MX records; seeded in tests.</summary>
    public Random Random { get; init; } = Random.Shared;

    /// <summary>The SMTP transcript for --verbose (or the debug log), or null.</summary>
    public TextWriter? Transcript { get; init; }

    /// <summary>Filled with what happened, for the log; null when nobody reads it.</summary>
    public DeliveryTrace? Trace { get; init; }

    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>The qmail home: its <c>queue/lock/tcpto</c> (and our <c>queue/lock/qremote-tcpto6</c>)
    /// remember connect timeouts across deliveries (<see cref="TcpTo"/>). Null: no such memory.</summary>
    public string? QmailHome { get; init; }

    /// <summary>Finds the recipient domain's MTA-STS policy (RFC 8461) for MX deliveries, through the delivery's own
    /// DNS lookups; null: MTA-STS is not consulted.</summary>
    public Func<string, IDnsLookup, CancellationToken, Task<StsRequirement?>>? MtaSts { get; init; }

    /// <summary>Records the TLS results for TLS reporting (control/qremote-tlsrpt); null: nothing is recorded.</summary>
    public QRemote.Tls.TlsReportRecorder? TlsReport { get; init; }

    /// <summary>Answers kept across deliveries (the daemon's); null: every delivery asks.</summary>
    public DnsCache? DnsCache { get; init; }

    /// <summary>Idle connections kept across deliveries (the daemon's); null: every connection ends with QUIT.</summary>
    public ISessionCache? Connections { get; init; }

    /// <summary>Called right before the message goes out on a connection (the daemon tells its client: from here on
    /// the outcome may be unknown). May throw to stop the delivery first.</summary>
    public Func<Task>? BeforeBody { get; init; }

    /// <summary>This process's id: tcpto skips an address for (60 + (pid &amp; 31)) &lt;&lt; 6 seconds.</summary>
    public int ProcessId { get; init; } = Environment.ProcessId;
}
