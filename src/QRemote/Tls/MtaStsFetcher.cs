using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using ARSoft.Tools.Net;
using ARSoft.Tools.Net.Dns;
using QRemote.Dns;
using QRemote.Smtp;

namespace QRemote.Tls;

/// <summary>
/// One HTTPS GET of <c>https://mta-sts.DOMAIN/.well-known/mta-sts.txt</c> (RFC 8461 section 3.3), done the way a
/// sender must: the host's addresses from our own resolver (never the system's, which an MTA's operator did not
/// choose), TLS 1.2 or newer, the certificate chained to the given roots only and naming the host, no redirects,
/// no proxy, no cookies, no HTTP cache, 200 and <c>text/plain</c> only, at most
/// <see cref="MtaStsOptions.MaxBodyBytes"/>, all within the fetch timeout.
/// </summary>
internal sealed class MtaStsFetcher(IDnsLookup dns, MtaStsOptions options, TimeProvider time)
{
    /// <summary>One address may take this long to connect; the next is tried after (the fetch timeout bounds all).</summary>
    public static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(10);

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static Uri PolicyUri(string domain, int port) =>
        new(port == 443 ? $"https://mta-sts.{domain}/.well-known/mta-sts.txt" : $"https://mta-sts.{domain}:{port}/.well-known/mta-sts.txt");

    public async Task<MtaStsFetch> FetchAsync(string domain, CancellationToken cancellationToken)
    {
        var timeout = options.EffectiveFetchTimeout;
        using var timer = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timer.Token);
        // Why a connection or a handshake failed, in our words: HttpClient wraps both in generic messages.
        string? connectError = null;
        string? certificateError = null;
        using var handler = CreateHandler($"mta-sts.{domain}", e => connectError = e, e => certificateError = e);
        using var client = new HttpClient(handler, disposeHandler: false) { Timeout = Timeout.InfiniteTimeSpan };
        using var request = new HttpRequestMessage(HttpMethod.Get, PolicyUri(domain, options.HttpsPort))
        {
            Version = HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
        };
        request.Headers.UserAgent.Add(UserAgent);
        try
        {
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, linked.Token).ConfigureAwait(false);
            return await ReadPolicyAsync(response, linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return Failed($"no complete answer in {timeout.TotalSeconds:0.#} s");
        }
        catch (Exception e) when (e is HttpRequestException or IOException or SocketException or AuthenticationException or InvalidOperationException)
        {
            return Failed(certificateError ?? connectError ?? Innermost(e)) with { WebPkiInvalid = certificateError is not null };
        }
    }

    public static ProductInfoHeaderValue UserAgent { get; } = new("QRemote", typeof(MtaStsFetcher).Assembly.GetName().Version?.ToString(3) ?? "0");

    /// <summary>The HTTP handler of a fetch (TLS reporting's HTTPS POST uses it too): our resolver, TLS 1.2 or newer, the
    /// roots given only, no redirects, proxy, cookies or decompression; each failure told in our words.</summary>
    /// <param name="host">The host, for the certificate failure's text.</param>
    internal SocketsHttpHandler CreateHandler(string host, Action<string> connectFailed, Action<string> certificateFailed) =>
        new()
        {
            AllowAutoRedirect = false, // RFC 8461 3.3: 3xx MUST NOT be followed.
            UseProxy = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            MaxResponseHeadersLength = 16, // KiB
            ConnectTimeout = Timeout.InfiniteTimeSpan, // ConnectCallback has its own, per address.
            ConnectCallback = async (context, token) =>
            {
                var (stream, error) = await ConnectAsync(context.DnsEndPoint, token).ConfigureAwait(false);
                connectFailed(error);
                return stream ?? throw new HttpRequestException(error);
            },
            SslOptions = new SslClientAuthenticationOptions
            {
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                CertificateChainPolicy = CustomRootPolicy.Create(options.Roots),
                RemoteCertificateValidationCallback = (_, _, chain, errors) =>
                {
                    if (errors == SslPolicyErrors.None)
                    {
                        return true;
                    }

                    var status = chain?.ChainStatus.Select(s => s.Status.ToString()).Distinct().ToArray() ?? [];
                    certificateFailed($"certificate of {host} did not verify ({errors}{(status.Length > 0 ? ": " + string.Join(", ", status) : "")})");
                    return false;
                },
            },
        };

    /// <summary>The body of a 200 <c>text/plain</c> answer of at most <see cref="MtaStsOptions.MaxBodyBytes"/>, in
    /// UTF-8; anything else is a failure saying what came instead.</summary>
    private static async Task<MtaStsFetch> ReadPolicyAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (response.StatusCode != HttpStatusCode.OK)
        {
            return Failed($"HTTP {(int)response.StatusCode}{(response.Headers.Location is { } to ? " to " + to : "")}, not 200");
        }

        var type = response.Content.Headers.ContentType?.MediaType;
        if (!string.Equals(type, "text/plain", StringComparison.OrdinalIgnoreCase))
        {
            return Failed(type is null ? "no Content-Type" : $"Content-Type {type}, not text/plain");
        }

        if (response.Content.Headers.ContentLength > MtaStsOptions.MaxBodyBytes)
        {
            return Failed($"body of {response.Content.Headers.ContentLength} bytes, over {MtaStsOptions.MaxBodyBytes}");
        }

        var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            // One byte more than allowed tells a body over the limit from one exactly at it.
            var buffer = new byte[MtaStsOptions.MaxBodyBytes + 1];
            var length = 0;
            int read;
            while (length < buffer.Length && (read = await stream.ReadAsync(buffer.AsMemory(length), cancellationToken).ConfigureAwait(false)) > 0)
            {
                length += read;
            }

            if (length > MtaStsOptions.MaxBodyBytes)
            {
                return Failed($"body over {MtaStsOptions.MaxBodyBytes} bytes");
            }

            try
            {
                return new MtaStsFetch(StrictUtf8.GetString(buffer, 0, length), null);
            }
            catch (DecoderFallbackException)
            {
                return Failed("body is not UTF-8");
            }
        }
    }

    private static MtaStsFetch Failed(string error) => new(null, error);

    internal static string Innermost(Exception e)
    {
        while (e.InnerException is not null)
        {
            e = e.InnerException;
        }

        return e.Message;
    }

    /// <summary>Connects to the policy host's addresses in turn, IPv6 and IPv4 alternately, IPv6 first (RFC 8305),
    /// as the MX resolver orders an exchanger's addresses.</summary>
    private async Task<(Stream? Stream, string Error)> ConnectAsync(DnsEndPoint endPoint, CancellationToken cancellationToken)
    {
        if (!DomainName.TryParse(endPoint.Host, out var name) || name is null)
        {
            return (null, $"{endPoint.Host} is not a host name");
        }

        var aTask = AddressesAsync(name, RecordType.A, cancellationToken);
        var aaaaTask = AddressesAsync(name, RecordType.Aaaa, cancellationToken);
        var (v4, v4Status) = await aTask.ConfigureAwait(false);
        var (v6, v6Status) = await aaaaTask.ConfigureAwait(false);
        var addresses = AddressOrder.Interleave(v6, v4);

        if (addresses.Count == 0)
        {
            return (null, v4Status == DnsStatus.TemporaryFailure || v6Status == DnsStatus.TemporaryFailure
                ? $"{endPoint.Host}: address lookup failed temporarily"
                : v4Status == DnsStatus.NoSuchName ? $"{endPoint.Host} does not exist" : $"{endPoint.Host} has no address");
        }

        var errors = new List<string>();
        foreach (var address in addresses)
        {
            var attempt = await Connector.ConnectAsync(new IPEndPoint(address, endPoint.Port), ConnectTimeout, cancellationToken).ConfigureAwait(false);
            if (attempt.Socket is not null)
            {
                return (new NetworkStream(attempt.Socket, ownsSocket: true), "");
            }

            errors.Add($"{address} port {endPoint.Port}: {attempt.Error}");
        }

        return (null, $"cannot connect to {endPoint.Host}: {string.Join("; ", errors)}");
    }

    /// <summary>The records of one address type at the end of <paramref name="name"/>'s CNAME chain, read from the
    /// answer and asked again only where the chain leaves it.</summary>
    private async Task<(IReadOnlyList<IPAddress> Addresses, DnsStatus Status)> AddressesAsync(DomainName name, RecordType type, CancellationToken cancellationToken)
    {
        var (status, _, records, _, _) = await CnameChain.FollowAsync(dns, name, type, null, cancellationToken).ConfigureAwait(false);
        var addresses = records.OfType<AddressRecordBase>().Select(r => r.Address).Distinct().ToList();
        return (addresses, status);
    }
}
