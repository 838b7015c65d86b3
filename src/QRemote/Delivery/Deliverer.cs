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
        var dns = new DnsLookup(options.Resolver, options.DnsCache);
        var resolver = new MailRouteResolver(dns, options.LocalAddresses, options.Random) { Transcript = options.Transcript };
        using var resolutionDeadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        resolutionDeadline.CancelAfter(MailRouteResolver.PhaseDeadline);
        // MTA-STS's TXT lookup goes out with the MX query, not after it: no round trip added to a delivery (and
        // on a thread of its own: its answer is parsed as it comes, and must not hold up the MX query).
        var stsLookup = options.MtaSts is null || route is not null || MailRouteResolver.TryLiteral(invocation.Host, out _)
            ? null
            : Task.Run(() => options.MtaSts(invocation.Host, dns, cancellationToken), cancellationToken);
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

        var found = (Resolution.Found)resolution;
        var destinations = found.Destinations;
        var transaction = new SmtpTransaction(invocation, message, config, options.Transcript, time, route);
        var control = options.QmailHome is null ? null : Path.Combine(options.QmailHome, "control");
        var sts = stsLookup is null || found.Route != "MX" ? null : await stsLookup.ConfigureAwait(false);
        var policies = new TlsPolicyResolver(control, resolver, found.Route, message.Facts.TlsRequiredNo, sts, route);
        DeliveryReport? last = null;
        string? unusable = null;
        var tried = 0;
        var lookupStarted = time.GetTimestamp();
        var tcpto = options.QmailHome is null ? null : new TcpTo(options.QmailHome, time, options.ProcessId);
        void Attempt(Destination d, string what) =>
            trace?.Add(new AddressAttempt(d.Address, d.Port, d.ExchangerName, d.Preference, what));

        await foreach (var group in destinations.EnumerateGroupsAsync(cancellationToken).ConfigureAwait(false))
        {
            if (trace is not null)
            {
                // Address lookups happen lazily, between connection attempts: they count as DNS time.
                trace.Dns += time.GetElapsedTime(lookupStarted);
                trace.MxSecure ??= group[0].MxSecure;
            }

            var policy = await policies.ForAsync(group[0], cancellationToken).ConfigureAwait(false);
            options.Transcript?.WriteLine($"tls policy for {group[0].ExchangerName}: {policy.Mode} ({policy.Why})");
            if (policy.Mode == TlsMode.Unusable)
            {
                // DANE's TLSA lookup failed, or MTA-STS does not list this exchanger: not tried, and never in plain text.
                unusable = policy.Why;
                foreach (var d in group)
                {
                    Attempt(d, "skipped: " + policy.Why);
                }

                lookupStarted = time.GetTimestamp();
                continue;
            }

            var remaining = new List<Destination>();
            foreach (var d in group)
            {
                tried++;
                var recent = tcpto is null ? default : await tcpto.CheckAsync(d.Address, cancellationToken).ConfigureAwait(false);
                if (recent.Skip)
                {
                    // netqmail's tcpto: timed out twice recently, so not tried now (a skipped address still
                    // counts as tried: all skipped is "no connection", a deferral).
                    options.Transcript?.WriteLine($"skip {new IPEndPoint(d.Address, d.Port)}: {recent.Timeouts} recent connect timeouts, the last {recent.SecondsSinceLast}s ago (tcpto)");
                    Attempt(d, "skipped: tcpto");
                }
                else
                {
                    remaining.Add(d);
                }
            }

            // A cached connection to any of this exchanger's addresses, under the same policy, credentials and
            // source address, goes first (the daemon's cache; none in a single delivery).
            if (options.Connections is { } cache)
            {
                foreach (var d in remaining)
                {
                    var key = SessionKey(d, policy, config, route);
                    if (cache.TryTake(key) is not { } session)
                    {
                        continue;
                    }

                    var transactionStarted = time.GetTimestamp();
                    var reused = await transaction.RunReusedAsync(session, d, new SessionOptions(cache, key, options.BeforeBody), cancellationToken).ConfigureAwait(false);
                    if (trace is not null)
                    {
                        trace.Transaction += time.GetElapsedTime(transactionStarted);
                        trace.Tls = reused.Tls;
                    }

                    if (reused.ReuseFailed)
                    {
                        Attempt(d, "reused connection failed: a fresh one");
                        break;
                    }

                    Attempt(d, ((char)reused.Report.Letter).ToString() + " (reused connection)");
                    if (cancellationToken.IsCancellationRequested || !reused.TryNextAddress)
                    {
                        return reused.Report;
                    }

                    last = reused.Report;
                    remaining.Remove(d);
                    break;
                }
            }

            while (remaining.Count > 0)
            {
                var connectStarted = time.GetTimestamp();
                var race = await Connector.RaceAsync(remaining.Select(d => new IPEndPoint(d.Address, d.Port)).ToList(), Connector.AttemptDelay,
                    TimeSpan.FromSeconds(config.TimeoutConnect), config.OutgoingIps, cancellationToken).ConfigureAwait(false);
                if (trace is not null)
                {
                    trace.Connect += time.GetElapsedTime(connectStarted);
                }

                foreach (var (index, result) in race.Failed)
                {
                    // Only a timeout counts against the address; a connection or any other failure clears it.
                    if (tcpto is not null)
                    {
                        await tcpto.RecordAsync(remaining[index].Address, result.TimedOut, cancellationToken).ConfigureAwait(false);
                    }

                    options.Transcript?.WriteLine($"connect {new IPEndPoint(remaining[index].Address, remaining[index].Port)}: {result.Error}");
                    Attempt(remaining[index], "connect: " + result.Error);
                }

                if (race.Socket is null)
                {
                    break;
                }

                var destination = remaining[race.Winner];
                if (tcpto is not null)
                {
                    await tcpto.RecordAsync(destination.Address, false, cancellationToken).ConfigureAwait(false);
                }

                remaining = remaining.Where((_, i) => i != race.Winner && !race.Failed.Any(f => f.Index == i)).ToList();
                var outcome = await RunAsync(race.Socket, destination, policy).ConfigureAwait(false);
                if (outcome.RetryWithoutTls && policy.Mode == TlsMode.Opportunistic && !cancellationToken.IsCancellationRequested)
                {
                    // Opportunistic TLS failed: the same address once more, without TLS.
                    var plain = new TlsPolicy(TlsMode.Off, null, "retry without TLS after a failed handshake");
                    var retry = await Connector.ConnectAsync(new IPEndPoint(destination.Address, destination.Port), TimeSpan.FromSeconds(config.TimeoutConnect),
                        cancellationToken, config.OutgoingIps).ConfigureAwait(false);
                    if (tcpto is not null)
                    {
                        await tcpto.RecordAsync(destination.Address, retry.TimedOut, cancellationToken).ConfigureAwait(false);
                    }

                    if (retry.Socket is null)
                    {
                        Attempt(destination, "connect: " + retry.Error);
                    }
                    else
                    {
                        outcome = await RunAsync(retry.Socket, destination, plain).ConfigureAwait(false);
                    }
                }

                // Stopped by a signal: this connection's report stands (with "Possible duplicate!" if the
                // final dot was sent); no other address is tried.
                if (cancellationToken.IsCancellationRequested || (!outcome.TryNextAddress && !outcome.RetryWithoutTls))
                {
                    return outcome.Report;
                }

                last = outcome.Report;
            }

            lookupStarted = time.GetTimestamp();
        }

        return last ?? (unusable is not null ? Reports.TlsPolicyUnusable(unusable)
            : tried == 0 ? destinations.Failure ?? Reports.NoAddress() : Reports.NoConnection());

        async Task<TransactionOutcome> RunAsync(System.Net.Sockets.Socket socket, Destination destination, TlsPolicy policy)
        {
            // The transaction owns the socket from here: it closes it, or hands it to the connection cache.
            options.Transcript?.WriteLine($"connected to {destination.Address}:{destination.Port} ({destination.ExchangerName}) from {socket.LocalEndPoint}");
            var transactionStarted = time.GetTimestamp();
            var sessionOptions = options.Connections is null && options.BeforeBody is null ? null
                : new SessionOptions(options.Connections, SessionKey(destination, policy, config, route), options.BeforeBody);
            var outcome = await transaction.RunAsync(socket, destination, policy, sessionOptions, cancellationToken).ConfigureAwait(false);
            if (trace is not null)
            {
                trace.Transaction += time.GetElapsedTime(transactionStarted);
                trace.Tls = outcome.Tls;
                Attempt(destination, outcome.RetryWithoutTls ? "TLS handshake failed" : ((char)outcome.Report.Letter).ToString());
            }

            return outcome;
        }
    }

    /// <summary>What must be equal for a connection to be reused: where it goes, and everything that decided how it was
    /// opened (TLS policy and its reason, credentials, client certificate, ciphers, source address, HELO name).</summary>
    public static string SessionKey(Destination destination, TlsPolicy policy, QmailConfig config, SmtpRoute? route)
    {
        ArgumentNullException.ThrowIfNull(destination);
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(config);
        var secret = route?.Password is { } password
            ? Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(password)))
            : "";
        return string.Join('\n', destination.Address, destination.Port, destination.ExchangerName.ToLowerInvariant(), policy.Mode, policy.Why, policy.CaFile,
            string.Join(',', policy.Tlsa), config.HeloHost, route?.User, secret, config.ClientCertificatePath, config.TlsClientCiphers,
            string.Join(',', config.OutgoingIps));
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
