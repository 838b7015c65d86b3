using System.Net;
using QRemote.Dns;
using QRemote.Message;
using QRemote.Qmail;
using QRemote.Smtp;

namespace QRemote.Delivery;

/// <summary>
/// One delivery, data flowing one way: checks on argv and message, routing (smtproutes, literal or
/// MX), resolution, then each address in turn until one gives an answer that settles the
/// delivery. Returns the report; writes nothing.
/// </summary>
public static class Deliverer
{
    public static async Task<DeliveryReport> DeliverAsync(Invocation invocation, MessageSource message, DeliveryOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(invocation);
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(options);

        // Refused before anything is sent: a partial final line (netqmail finds out half-way
        // through the data; the file is seekable, so we know before MAIL) and an unsendable sender.
        if (!message.Facts.EndsWithNewline)
        {
            return Reports.PartialFinalLine();
        }

        if (EnvelopeAddress.ToWire(invocation.Sender) is null)
        {
            return Reports.BadSender();
        }

        var config = options.Config;
        var route = config.Routes.Find(invocation.Host);
        using var dns = new DnsLookup(options.Resolver);
        var resolver = new MailRouteResolver(dns, options.LocalAddresses, options.Random) { Transcript = options.Transcript };
        using var resolutionDeadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        resolutionDeadline.CancelAfter(MailRouteResolver.PhaseDeadline);
        Resolution resolution;
        try
        {
            resolution = route is not null
                ? await resolver.ResolveRelayAsync(route, resolutionDeadline.Token).ConfigureAwait(false)
                : await resolver.ResolveMxAsync(invocation.Host, options.SmtpPort, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return Reports.DnsTemporaryFailure();
        }

        if (resolution is Resolution.Failed failed)
        {
            return failed.Report;
        }

        if (config.CanonicalizeRecipients && route is null)
        {
            // RFC 1123 5.2.2, obsolete, off by default: each recipient domain becomes the end of the CNAME
            // chain in its MX answer (the same query delivery makes; never ANY, never a CNAME query).
            var canonical = await CanonicalizeAsync(invocation.Recipients, resolver, resolutionDeadline.Token).ConfigureAwait(false);
            if (canonical is null)
            {
                return Reports.CnameTemporaryFailure();
            }

            invocation = invocation with { Recipients = canonical };
        }

        var destinations = ((Resolution.Found)resolution).Destinations;
        var transaction = new SmtpTransaction(invocation, message, config, options.Transcript);
        DeliveryReport? last = null;
        var tried = 0;
        await foreach (var destination in destinations.EnumerateAsync(cancellationToken).ConfigureAwait(false))
        {
            tried++;
            var endpoint = new IPEndPoint(destination.Address, destination.Port);
            var (socket, error) = await Connector.ConnectAsync(endpoint, TimeSpan.FromSeconds(config.TimeoutConnect), cancellationToken).ConfigureAwait(false);
            if (socket is null)
            {
                options.Transcript?.WriteLine($"connect {endpoint}: {error}");
                continue;
            }

            using (socket)
            {
                options.Transcript?.WriteLine($"connected to {endpoint} ({destination.ExchangerName})");
                var outcome = await transaction.RunAsync(socket, destination, cancellationToken).ConfigureAwait(false);
                if (!outcome.TryNextAddress)
                {
                    return outcome.Report;
                }

                last = outcome.Report;
            }
        }

        return last ?? (tried == 0 ? destinations.Failure ?? Reports.NoAddress() : Reports.NoConnection());
    }

    private static async Task<IReadOnlyList<string>?> CanonicalizeAsync(IReadOnlyList<string> recipients, MailRouteResolver resolver, CancellationToken cancellationToken)
    {
        var result = new string[recipients.Count];
        for (var i = 0; i < recipients.Count; i++)
        {
            var domain = EnvelopeAddress.Domain(recipients[i]);
            if (domain is null || domain.Length == 0)
            {
                result[i] = recipients[i];
                continue;
            }

            string? canonical;
            try
            {
                canonical = await resolver.CanonicalNameAsync(domain, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                canonical = null;
            }

            if (canonical is null)
            {
                return null;
            }

            result[i] = recipients[i][..^domain.Length] + canonical;
        }

        return result;
    }
}
