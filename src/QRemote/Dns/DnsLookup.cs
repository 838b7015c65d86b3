using System.Collections.Concurrent;
using System.Net;
using ARSoft.Tools.Net;
using ARSoft.Tools.Net.Dns;

namespace QRemote.Dns;

/// <summary>Asks one question of the configured resolvers.</summary>
public interface IDnsLookup
{
    Task<DnsAnswer> QueryAsync(DomainName name, RecordType type, CancellationToken cancellationToken);
}

/// <summary>
/// The stub resolver on ARSoft.Tools.Net's <see cref="DnsClient"/>. What it adds to ARSoft:
/// <list type="bullet">
/// <item>EDNS0 with a 1232-byte UDP payload (DNS flag day 2020) and the DO bit, so signed answers come whole
/// and a validating resolver sets AD; a truncated UDP answer is asked again over TCP (ARSoft does that) and
/// any answer up to 65535 bytes is taken.</item>
/// <item>A deadline on every query: ARSoft's TCP transport has no read timeout once a server accepts, so a
/// query without a cancellation token can hang for ever.</item>
/// <item>Each (name, type) asked at most once per invocation: concurrent askers share one query.</item>
/// <item>The answer's question is checked against ours (ARSoft ignores its own validation flag).</item>
/// <item>Each query gets transports of its own. ARSoft pipelines concurrent TCP queries over one pooled
/// connection and can lose a reply there: measured, A and AAAA asked together after a truncated MX
/// answer stalled for the whole query timeout (2 s) in 3 of 60 deliveries. A TCP connection per query
/// costs one handshake and never stalls.</item>
/// </list>
/// </summary>
public sealed class DnsLookup : IDnsLookup, IDisposable
{
    private readonly ResolverConfig _config;
    private readonly ConcurrentDictionary<(string, RecordType), Task<DnsAnswer>> _asked = new();

    public DnsLookup(ResolverConfig config) => _config = config ?? throw new ArgumentNullException(nameof(config));

    /// <summary>The longest one query may take: every server over UDP then TCP, for each attempt.</summary>
    public TimeSpan QueryDeadline => _config.Timeout * (_config.Servers.Count * 2 * _config.Attempts);

    public Task<DnsAnswer> QueryAsync(DomainName name, RecordType type, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(name);
        var key = (name.ToString(false).ToLowerInvariant(), type);
        return _asked.GetOrAdd(key, _ => AskAsync(name, type, cancellationToken));
    }

    public void Dispose()
    {
    }

    /// <summary>ARSoft ties the port to the transport, so servers are grouped by port (53 in every real
    /// resolv.conf; other ports only in test overrides), keeping resolv.conf's order.</summary>
    private IEnumerable<DnsClient> NewClients()
    {
        var timeoutMs = (int)_config.Timeout.TotalMilliseconds;
        foreach (var group in _config.Servers.GroupBy(s => s.Port))
        {
            var transports = new IClientTransport[] { new UdpClientTransport(group.Key), new TcpClientTransport(group.Key) };
            yield return new DnsClient(group.Select(s => s.Address).ToList(), transports, disposeTransport: true, timeoutMs);
        }
    }

    private async Task<DnsAnswer> AskAsync(DomainName name, RecordType type, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(QueryDeadline);
        DnsMessage? serverFailure = null;
        for (var attempt = 0; attempt < _config.Attempts; attempt++)
        {
            foreach (var client in NewClients())
            {
                using var owned = client;
                if (deadline.IsCancellationRequested)
                {
                    return DnsAnswer.Temporary($"{name} {type}: no answer in {QueryDeadline.TotalSeconds:0}s");
                }

                var options = new DnsQueryOptions
                {
                    IsRecursionDesired = true,
                    EDnsOptions = new OptRecord(1232) { IsDnsSecOk = true },
                };
                DnsMessage? response;
                try
                {
                    response = await client.ResolveAsync(name, type, RecordClass.INet, options, deadline.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    // ARSoft reports failures as null; anything it does throw is a failed query too.
                    response = null;
                }

                if (response is null || !Matches(response, name, type))
                {
                    continue;
                }

                switch (response.ReturnCode)
                {
                    case ReturnCode.NoError:
                        return new DnsAnswer(DnsStatus.Ok, response, "NOERROR");
                    case ReturnCode.NxDomain:
                        return new DnsAnswer(DnsStatus.NoSuchName, response, "NXDOMAIN");
                    default:
                        serverFailure = response;
                        break;
                }
            }
        }

        return DnsAnswer.Temporary(serverFailure is null
            ? $"{name} {type}: no answer"
            : $"{name} {type}: {serverFailure.ReturnCode}");
    }

    private static bool Matches(DnsMessage response, DomainName name, RecordType type) =>
        response.Questions.Count == 1
        && response.Questions[0].Name.Equals(name)
        && response.Questions[0].RecordType == type
        && !response.IsQuery;
}
