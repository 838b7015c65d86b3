using System.Collections.Concurrent;
using ARSoft.Tools.Net;
using ARSoft.Tools.Net.Dns;

namespace QRemote.Dns;

/// <summary>
/// The stub resolver: <see cref="DnsTransport"/> on the wire, ARSoft.Tools.Net's parser for the answers.
/// <list type="bullet">
/// <item>EDNS0 with a 1232-byte UDP payload (DNS flag day 2020) and the DO bit, so signed answers come whole
/// and a validating resolver sets AD; a truncated UDP answer is asked again over TCP; any answer up to
/// 65535 bytes is taken.</item>
/// <item>A deadline on every query: resolv.conf's timeout per server (UDP, and TCP after truncation), and
/// <see cref="QueryDeadline"/> over all servers and attempts.</item>
/// <item>Each (name, type) asked at most once per invocation: concurrent askers share one query.</item>
/// <item>An answer is used only if it parses at its exact length and answers our question.</item>
/// <item>The AD bit is cleared on every answer unless <see cref="ResolverConfig.AdTrust"/> says the resolver's word
/// can be believed (a loopback resolver, or <c>options trust-ad</c>): cleared here, no caller can trust it by mistake.</item>
/// </list>
/// </summary>
internal sealed class DnsLookup : IDnsLookup
{
    private readonly ResolverConfig _config;
    private readonly ConcurrentDictionary<(string, RecordType), Task<DnsAnswer>> _asked = new();

    private readonly DnsCache? _shared;

    /// <param name="shared">Answers kept across deliveries (the daemon's), or null: each delivery asks afresh.</param>
    public DnsLookup(ResolverConfig config, DnsCache? shared = null)
    {
        _config = config ?? throw new ArgumentNullException(nameof(config));
        _shared = shared;
    }

    /// <summary>The longest one query may take: every server over UDP then TCP, for each attempt.</summary>
    public TimeSpan QueryDeadline => _config.Timeout * (_config.Servers.Count * 2 * _config.Attempts);

    public Task<DnsAnswer> QueryAsync(DomainName name, RecordType type, CancellationToken cancellationToken)
    {
        var key = (name.ToString(false).ToLowerInvariant(), type);
        if (_shared?.Get(_config, key.Item1, type) is { } cached)
        {
            return Task.FromResult(cached);
        }

        return _asked.GetOrAdd(key, _ => AskAndKeepAsync(key.Item1, name, type, cancellationToken));
    }

    private async Task<DnsAnswer> AskAndKeepAsync(string key, DomainName name, RecordType type, CancellationToken cancellationToken)
    {
        var answer = await AskAsync(name, type, cancellationToken).ConfigureAwait(false);
        _shared?.Put(_config, key, type, answer);
        return answer;
    }

    private async Task<DnsAnswer> AskAsync(DomainName name, RecordType type, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(QueryDeadline);
        DnsMessage? serverFailure = null;
        for (var attempt = 0; attempt < _config.Attempts; attempt++)
        {
            foreach (var server in _config.Servers)
            {
                if (deadline.IsCancellationRequested)
                {
                    return DnsAnswer.Temporary($"{name} {type}: no answer in {QueryDeadline.TotalSeconds:0}s");
                }

                // Each server gets resolv.conf's timeout (UDP, and TCP after a truncated answer, each).
                using var perServer = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token);
                perServer.CancelAfter(_config.Timeout * 2);
                DnsMessage? response;
                try
                {
                    response = await DnsTransport.QueryAsync(server, name, type, perServer.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    response = null;
                }

                if (response is null)
                {
                    continue;
                }

                if (!_config.AdTrust.Trusted)
                {
                    // A forged AD=1 from a path we do not control would make a forged TLSA record decide the key.
                    response.IsAuthenticData = false;
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
}
