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
        var trace = options.Trace;
        var time = options.Time;
        var route = config.Routes.Find(invocation.Host);
        var dnsStarted = time.GetTimestamp();
        var dns = new DnsLookup(options.Resolver);
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

        if (trace is not null)
        {
            trace.Dns = time.GetElapsedTime(dnsStarted);
            trace.Route = (resolution as Resolution.Found)?.Route;
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
        var transaction = new SmtpTransaction(invocation, message, config, options.Transcript, time);
        DeliveryReport? last = null;
        var tried = 0;
        var lookupStarted = time.GetTimestamp();
        var tcpto = options.QmailHome is null ? null : new TcpTo(options.QmailHome, time, options.ProcessId);
        await foreach (var destination in destinations.EnumerateAsync(cancellationToken).ConfigureAwait(false))
        {
            if (trace is not null)
            {
                // Address lookups happen lazily, between connection attempts: they count as DNS time.
                trace.Dns += time.GetElapsedTime(lookupStarted);
                trace.MxSecure ??= destination.MxSecure;
            }

            tried++;
            var endpoint = new IPEndPoint(destination.Address, destination.Port);
            var recent = tcpto?.Check(destination.Address) ?? default;
            if (recent.Skip)
            {
                // netqmail's tcpto: timed out twice recently, so not tried now (a skipped address still
                // counts as tried: all skipped is "no connection", a deferral).
                options.Transcript?.WriteLine($"skip {endpoint}: {recent.Timeouts} recent connect timeouts, the last {recent.SecondsSinceLast}s ago (tcpto)");
                trace?.Add(new AddressAttempt(destination.Address, destination.Port, destination.ExchangerName, destination.Preference, "skipped: tcpto"));
                lookupStarted = time.GetTimestamp();
                continue;
            }

            var policy = TlsPolicy.For(options.QmailHome is null ? null : Path.Combine(options.QmailHome, "control"), destination.ExchangerName);
            while (true)
            {
                var connectStarted = time.GetTimestamp();
                var (socket, error, timedOut) = await Connector.ConnectAsync(endpoint, TimeSpan.FromSeconds(config.TimeoutConnect), cancellationToken).ConfigureAwait(false);
                if (trace is not null)
                {
                    trace.Connect += time.GetElapsedTime(connectStarted);
                }

                // Only a timeout counts against the address; a connection or any other failure clears it.
                tcpto?.Record(destination.Address, timedOut);
                if (socket is null)
                {
                    options.Transcript?.WriteLine($"connect {endpoint}: {error}");
                    trace?.Add(new AddressAttempt(destination.Address, destination.Port, destination.ExchangerName, destination.Preference, "connect: " + error));
                    break;
                }

                using (socket)
                {
                    options.Transcript?.WriteLine($"connected to {endpoint} ({destination.ExchangerName})");
                    var transactionStarted = time.GetTimestamp();
                    var outcome = await transaction.RunAsync(socket, destination, policy, cancellationToken).ConfigureAwait(false);
                    if (trace is not null)
                    {
                        trace.Transaction += time.GetElapsedTime(transactionStarted);
                        trace.Tls = outcome.RetryWithoutTls ? outcome.Tls : transaction.Tls;
                        trace.Add(new AddressAttempt(destination.Address, destination.Port, destination.ExchangerName, destination.Preference,
                            outcome.RetryWithoutTls ? "TLS handshake failed" : ((char)outcome.Report.Letter).ToString()));
                    }

                    // Stopped by a signal: this connection's report stands (with "Possible duplicate!" if the
                    // final dot was sent); no other address is tried.
                    if (cancellationToken.IsCancellationRequested || (!outcome.TryNextAddress && !outcome.RetryWithoutTls))
                    {
                        return outcome.Report;
                    }

                    last = outcome.Report;
                    if (outcome.RetryWithoutTls && policy.Mode == TlsMode.Opportunistic)
                    {
                        policy = new TlsPolicy(TlsMode.Off, null, "retry without TLS after a failed handshake");
                        continue;
                    }
                }

                break;
            }

            lookupStarted = time.GetTimestamp();
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
