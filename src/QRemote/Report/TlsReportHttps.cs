using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Authentication;
using QRemote.Dns;
using QRemote.Tls;

namespace QRemote.Report;

/// <summary>
/// RFC 8460 5.4: the gzip'd report as the body of one HTTPS POST, <c>Content-Type: application/tlsrpt+gzip</c>, under
/// the bounds of the MTA-STS fetch, whose handler it is (<see cref="MtaStsFetcher.CreateHandler"/>): our resolver, TLS 1.2
/// or newer verified against the WebPKI roots and the URL's host, no redirect followed, no proxy, the answer's head at
/// most 16 KiB and its body never read, everything within the fetch timeout. 2xx is sent; 4xx (but 408 and 429) is
/// refused for good; anything else, or no answer, is tried again on the next run.
/// </summary>
internal static class TlsReportHttps
{
    public static async Task<TlsReportSend> PostAsync(IDnsLookup dns, MtaStsOptions options, TimeProvider time, Uri destination, byte[] gzip, CancellationToken cancellationToken)
    {
        var timeout = options.EffectiveFetchTimeout;
        using var timer = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timer.Token);
        string? connectError = null;
        string? certificateError = null;
        using var handler = new MtaStsFetcher(dns, options, time).CreateHandler(destination.Host, e => connectError = e, e => certificateError = e);
        using var client = new HttpClient(handler, disposeHandler: false) { Timeout = Timeout.InfiniteTimeSpan };
        using var content = new ByteArrayContent(gzip);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/" + TlsReportMessage.MediaSubtype);
        using var request = new HttpRequestMessage(HttpMethod.Post, destination)
        {
            Version = HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
            Content = content,
        };
        request.Headers.UserAgent.Add(MtaStsFetcher.UserAgent);
        try
        {
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, linked.Token).ConfigureAwait(false);
            var code = (int)response.StatusCode;
            return code switch
            {
                >= 200 and < 300 => new(TlsReportSendStatus.Sent, $"HTTP {code}"),
                >= 400 and < 500 and not 408 and not 429 => new(TlsReportSendStatus.Permanent, $"HTTP {code}: refused"),
                _ => new(TlsReportSendStatus.Temporary, $"HTTP {code}"),
            };
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new(TlsReportSendStatus.Temporary, $"no answer in {timeout.TotalSeconds:0.#} s");
        }
        catch (Exception e) when (e is HttpRequestException or IOException or SocketException or AuthenticationException or InvalidOperationException)
        {
            return new(TlsReportSendStatus.Temporary, certificateError ?? (connectError is { Length: > 0 } c ? c : MtaStsFetcher.Innermost(e)));
        }
    }
}
