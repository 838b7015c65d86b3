using System.Net;
using ARSoft.Tools.Net;
using QRemote.Dns;
using QRemote.Logging;

namespace QRemote.Tls;

/// <summary>
/// Records the TLS results of one delivery (RFC 8460): each session under a DANE or MTA-STS policy, each exchanger
/// such a policy kept from being tried, and an MTA-STS policy that could not be fetched. Each result is appended to the
/// spool at once, one line in one <c>write(2)</c> (<see cref="AppendFileSink.AppendLine"/>), or sent as one datagram to
/// tlsrpt-collectd (<see cref="TlsReportDatagram"/>). Recording never changes or holds up a delivery: every failure
/// here is swallowed (a lost result is a lost statistic, never a lost message).
/// </summary>
internal sealed class TlsReportRecorder(TlsReportTarget target, TimeProvider time)
{
    /// <summary>How long a datagram result waits for the domain's <c>_smtp._tls</c> record (looked up from the start of
    /// the delivery, so normally long known by then).</summary>
    public static readonly TimeSpan RecordWait = TimeSpan.FromSeconds(2);

    private string _domain = "";
    private Task<string?>? _tlsrptRecord;

    public TlsReportTarget Target => target;

    /// <summary>The delivery's policy domain (the host qmail gave: the recipient domain, RFC 8460 3) and, for
    /// tlsrpt-collectd, its <c>_smtp._tls</c> record looked up now, alongside the MX query.</summary>
    public void Begin(string host, IDnsLookup dns, CancellationToken cancellationToken)
    {
        _domain = host.TrimEnd('.').ToLowerInvariant();
        if (target.Datagram && DomainName.TryParse("_smtp._tls." + _domain, out var owner) && owner is not null)
        {
            _tlsrptRecord = Task.Run(() => TlsReportDnsRecord.RecordTextAsync(dns, owner, cancellationToken), cancellationToken);
        }
    }

    /// <summary>An exchanger not tried because of its policy (<see cref="TlsReportPolicy.Failure"/>).</summary>
    public Task PolicyUnusableAsync(TlsPolicy policy, Destination destination) =>
        policy.Report is { Failure: { } failure } report
            ? RecordAsync(new(time.GetUtcNow(), report.Type, report.Strings, _domain, Mx(destination), null, null, failure))
            : Task.CompletedTask;

    /// <summary>One TLS session (or its failure to become one) with an exchanger under a reported policy.</summary>
    public Task SessionAsync(TlsPolicy policy, Destination destination, IPAddress? local, TlsReportResult result) =>
        policy.Report is { } report
            ? RecordAsync(new(time.GetUtcNow(), report.Type, report.Strings, _domain, Mx(destination), local, destination.Address, result))
            : Task.CompletedTask;

    /// <summary>The domain publishes an MTA-STS record, but its policy could not be fetched or read (and none is cached).</summary>
    public Task StsDiscoveryFailedAsync(TlsReportResult failure) =>
        RecordAsync(new(time.GetUtcNow(), TlsReportPolicyType.Sts, [], _domain, null, null, null, failure));

    private static string Mx(Destination destination) => destination.ExchangerName.TrimEnd('.').ToLowerInvariant();

    private async Task RecordAsync(TlsReportEntry entry)
    {
        if (entry.PolicyDomain.Length == 0)
        {
            return;
        }

        try
        {
            if (!target.Datagram)
            {
                AppendFileSink.AppendLine(target.Path, entry.ToLine());
                return;
            }

            var record = _tlsrptRecord is null ? null : await _tlsrptRecord.WaitAsync(RecordWait).ConfigureAwait(false);
            if (record is not null)
            {
                TlsReportDatagram.Send(target.Path, TlsReportDatagram.Build(entry, record));
            }
        }
#pragma warning disable CA1031 // Recording never changes a delivery: any failure is dropped.
        catch (Exception)
        {
        }
#pragma warning restore CA1031
    }
}
