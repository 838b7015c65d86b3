using System.Net;
using QRemote.Dns;
using QRemote.Message;
using QRemote.Qmail;
using QRemote.Smtp;
using QRemote.Tls;

namespace QRemote.Delivery;

/// <summary>
/// One delivery, data flowing one way: checks on argv and message, routing (smtproutes, literal or
/// MX), resolution, then each address in turn until one gives an answer that settles the
/// delivery. Returns the report; writes nothing.
/// </summary>
internal static class Deliverer
{
    public static async Task<DeliveryReport> DeliverAsync(Invocation invocation, MessageSource message, DeliveryOptions options, CancellationToken cancellationToken)
    {
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

        var time = options.Time;
        // control/authsenders first (the sender's relay wins over smtproutes), then smtproutes, else MX.
        var route = options.Config.AuthSenders.RouteFor(invocation.Sender, invocation.Host, options.Config.Routes);
        if (route is { Source: AuthSenders.FileName })
        {
            options.Transcript?.WriteLine($"route: {route} from control/{AuthSenders.FileName}{(route.User is null ? "" : ", with credentials")}");
        }

        var dnsStarted = time.GetTimestamp();
        var dns = new DnsLookup(options.Resolver, options.DnsCache);
        var resolver = new MailRouteResolver(dns, options.LocalAddresses, options.Random) { Transcript = options.Transcript };
        options.TlsReport?.Begin(invocation.Host, dns, cancellationToken);
        using var resolutionDeadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        resolutionDeadline.CancelAfter(MailRouteResolver.PhaseDeadline);
        // MTA-STS's TXT lookup goes out with the MX query, not after it: no round trip added to a delivery. Started,
        // not awaited: it runs up to its query and goes on when the answer comes (no Task.Run: DeliveryThreads).
        var stsLookup = options.MtaSts is null || route is not null || MailRouteResolver.TryLiteral(invocation.Host, out _)
            ? null
            : options.MtaSts(invocation.Host, dns, cancellationToken);
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

        options.Trace?.Dns = time.GetElapsedTime(dnsStarted);
        options.Trace?.Route = (resolution as Resolution.Found)?.Route.Name;
        if (resolution is not Resolution.Found found)
        {
            return ((Resolution.Failed)resolution).Report;
        }

        if (options.Config.CanonicalizeRecipients && route is null)
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

        var control = options.QmailHome is null ? null : Path.Combine(options.QmailHome, "control");
        var sts = stsLookup is null || found.Route != RouteKind.Mx ? null : await stsLookup.ConfigureAwait(false);
        // REQUIRETLS (RFC 8689) wins over TLS-Required: No (section 4: with REQUIRETLS the header field is ignored).
        var requireTls = options.Config.RequiresTls(message.Facts);
        if (requireTls)
        {
            options.Transcript?.WriteLine("requiretls: Require-TLS-ESMTP: yes (control/qremote-requiretls): only verified TLS to servers offering REQUIRETLS");
        }

        var policies = new TlsPolicyResolver(control, resolver, found.Route, message.Facts.TlsRequiredNo && !requireTls, sts, route);
        var transaction = new SmtpTransaction(invocation, message, options.Config, options.Transcript, time, route);
        return await new AddressAttempts(options, route, policies, transaction, requireTls).RunAsync(found.Destinations, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>What must be equal for a connection to be reused: where it goes, and everything that decided how it was
    /// opened (TLS policy and its reason, credentials, client certificate, ciphers, source address, HELO name).</summary>
    private static string SessionKey(Destination destination, TlsPolicy policy, QmailConfig config, SmtpRoute? route)
    {
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

    /// <summary>Each exchanger in turn, each of its addresses, until one gives an answer that settles the delivery: its
    /// TLS policy, tcpto's verdict, a cached connection, the connection race, the transaction, the plain retry. A refusal
    /// another exchanger may not give (<see cref="ExchangerRefusal"/>) settles nothing: it is the report only when every
    /// exchanger gave one of the same kind and none was out of reach.</summary>
    private sealed class AddressAttempts(DeliveryOptions options, SmtpRoute? route, TlsPolicyResolver policies, SmtpTransaction transaction, bool requireTls)
    {
        private readonly DeliveryTrace? _trace = options.Trace;
        private readonly TimeProvider _time = options.Time;
        private readonly TcpTo? _tcpto = options.QmailHome is null ? null : new TcpTo(options.QmailHome, options.Time, options.ProcessId);
        private DeliveryReport? _last;
        private string? _unusable;
        private DeliveryReport? _nothingToTry;
        private int _tried;
        private DeliveryReport? _refused;
        private readonly HashSet<ExchangerRefusal> _refusals = [];
        private bool _unreached;

        public async Task<DeliveryReport> RunAsync(DestinationList destinations, CancellationToken cancellationToken)
        {
            var lookupStarted = _time.GetTimestamp();
            await foreach (var step in destinations.EnumerateGroupsAsync(cancellationToken).ConfigureAwait(false))
            {
                if (step is DestinationStep.NothingToTry nothing)
                {
                    _nothingToTry = nothing.Report;
                    continue;
                }

                var group = ((DestinationStep.Exchanger)step).Addresses;
                // Address lookups happen lazily, between connection attempts: they count as DNS time.
                _trace?.Dns += _time.GetElapsedTime(lookupStarted);
                if (_trace is { MxSecure: null })
                {
                    _trace.MxSecure = group[0].MxSecure;
                }

                if (await TryExchangerAsync(group, cancellationToken).ConfigureAwait(false) is { } settled)
                {
                    return settled;
                }

                lookupStarted = _time.GetTimestamp();
            }

            if (_refused is not null)
            {
                return Final(destinations.TemporaryFailureSeen);
            }

            return _last ?? (_unusable is not null ? Reports.TlsPolicyUnusable(_unusable)
                : _tried == 0 ? _nothingToTry ?? Reports.NoAddress() : Reports.NoConnection());
        }

        /// <summary>After refusals another exchanger might not have given: D only when every exchanger refused for the
        /// same reason; any doubt (an exchanger out of reach, a deferral, an address lookup that failed, two reasons) is a Z.</summary>
        private DeliveryReport Final(bool lookupFailed)
        {
            if (_last is null && _unusable is null && !_unreached && !lookupFailed && _refusals.Count == 1)
            {
                return _refused!;
            }

            return _last ?? (_unusable is not null ? Reports.TlsPolicyUnusable(_unusable)
                : _unreached || lookupFailed ? Reports.NoConnection() : Reports.RefusedForDifferentReasons());
        }

        /// <summary>The report of the outcome that ends the delivery; a refusal, which is a D only once every exchanger was
        /// tried, is no answer when a signal stopped the delivery before the others: nothing was sent, so a deferral.</summary>
        private static DeliveryReport Standing(TransactionOutcome outcome, CancellationToken cancellationToken) =>
            cancellationToken.IsCancellationRequested && outcome.Refusal != ExchangerRefusal.None ? Reports.Stopped() : outcome.Report;

        /// <summary>An outcome that let the next address be tried: a refusal kept apart, anything else as the last deferral.</summary>
        private void Remember(TransactionOutcome outcome)
        {
            if (outcome.Refusal == ExchangerRefusal.None)
            {
                _last = outcome.Report;
                return;
            }

            _refused = outcome.Report;
            _refusals.Add(outcome.Refusal);
        }

        /// <summary>One exchanger's addresses under its TLS policy; the report when it settles the delivery, else null.</summary>
        private async Task<DeliveryReport?> TryExchangerAsync(IReadOnlyList<Destination> group, CancellationToken cancellationToken)
        {
            var policy = await policies.ForAsync(group[0], cancellationToken).ConfigureAwait(false);
            options.Transcript?.WriteLine($"tls policy for {group[0].ExchangerName}: {policy.Mode} ({policy.Why})");
            if (policy.Mode == TlsMode.Unusable)
            {
                // DANE's TLSA lookup failed, or MTA-STS does not list this exchanger: not tried, and never in plain text.
                _unusable = policy.Why;
                await (options.TlsReport?.PolicyUnusableAsync(policy, group[0]) ?? Task.CompletedTask).ConfigureAwait(false);
                foreach (var d in group)
                {
                    Attempt(d, "skipped: " + policy.Why);
                }

                return null;
            }

            if (requireTls && !TlsPolicyResolver.QualifiesForRequireTls(policy))
            {
                // RFC 8689 4.2.1: no verified TLS to be had here, so not even a connection; the next exchanger may have it.
                foreach (var d in group)
                {
                    Attempt(d, "skipped: REQUIRETLS needs a verified TLS policy");
                }

                Remember(new(Reports.RequireTlsNoPolicy(group[0].ExchangerName), TryNextAddress: true, Refusal: ExchangerRefusal.RequireTls));
                return null;
            }

            var remaining = await WithoutRecentTimeoutsAsync(group, cancellationToken).ConfigureAwait(false);
            if (options.Connections is { } cache && await TryCachedAsync(cache, remaining, policy, cancellationToken).ConfigureAwait(false) is { } settled)
            {
                return settled;
            }

            return await TryConnectingAsync(remaining, policy, cancellationToken).ConfigureAwait(false);
        }

        /// <summary>netqmail's tcpto: an address that timed out twice recently is not tried now (it still counts as
        /// tried: all skipped is "no connection", a deferral).</summary>
        private async Task<List<Destination>> WithoutRecentTimeoutsAsync(IReadOnlyList<Destination> group, CancellationToken cancellationToken)
        {
            var remaining = new List<Destination>();
            foreach (var d in group)
            {
                _tried++;
                var recent = _tcpto is null ? default : await _tcpto.CheckAsync(d.Address, cancellationToken).ConfigureAwait(false);
                if (recent.Skip)
                {
                    options.Transcript?.WriteLine($"skip {new IPEndPoint(d.Address, d.Port)}: {recent.Timeouts} recent connect timeouts, the last {recent.SecondsSinceLast}s ago (tcpto)");
                    Attempt(d, "skipped: tcpto");
                    _unreached = true;
                }
                else
                {
                    remaining.Add(d);
                }
            }

            return remaining;
        }

        /// <summary>A cached connection to any of this exchanger's addresses, under the same policy, credentials and
        /// source address, goes first (the daemon's cache; none in a single delivery). An address it served is taken
        /// out of <paramref name="remaining"/>.</summary>
        private async Task<DeliveryReport?> TryCachedAsync(ISessionCache cache, List<Destination> remaining, TlsPolicy policy, CancellationToken cancellationToken)
        {
            foreach (var d in remaining)
            {
                var key = SessionKey(d, policy, options.Config, route);
                if (cache.TryTake(key) is not { } session)
                {
                    continue;
                }

                var transactionStarted = _time.GetTimestamp();
                var reused = await transaction.RunReusedAsync(session, d, new SessionOptions(cache, key, options.BeforeBody), cancellationToken).ConfigureAwait(false);
                _trace?.Transaction += _time.GetElapsedTime(transactionStarted);
                _trace?.Tls = reused.Tls;
                if (reused.ReuseFailed)
                {
                    Attempt(d, "reused connection failed: a fresh one");
                    return null;
                }

                Attempt(d, ((char)reused.Report.Letter).ToString() + " (reused connection)");
                if (cancellationToken.IsCancellationRequested || !reused.TryNextAddress)
                {
                    return Standing(reused, cancellationToken);
                }

                Remember(reused);
                remaining.Remove(d);
                return null;
            }

            return null;
        }

        /// <summary>The connection race between the addresses left, then the transaction on the winner; again with the
        /// rest while each settles nothing.</summary>
        private async Task<DeliveryReport?> TryConnectingAsync(List<Destination> remaining, TlsPolicy policy, CancellationToken cancellationToken)
        {
            while (remaining.Count > 0)
            {
                var race = await RaceAsync(remaining, cancellationToken).ConfigureAwait(false);
                if (race.Socket is null)
                {
                    return null;
                }

                var destination = remaining[race.Winner];
                await RecordAsync(destination, timedOut: false, cancellationToken).ConfigureAwait(false);
                remaining = remaining.Where((_, i) => i != race.Winner && !race.Failed.Any(f => f.Index == i)).ToList();
                var outcome = await TransactAsync(race.Socket, destination, policy, cancellationToken).ConfigureAwait(false);
                if (outcome.RetryWithoutTls && policy.Mode == TlsMode.Opportunistic && !cancellationToken.IsCancellationRequested)
                {
                    outcome = await RetryWithoutTlsAsync(destination, outcome, cancellationToken).ConfigureAwait(false);
                }

                // Stopped by a signal: this connection's report stands (with "Possible duplicate!" if the
                // final dot was sent); no other address is tried.
                if (cancellationToken.IsCancellationRequested || (!outcome.TryNextAddress && !outcome.RetryWithoutTls))
                {
                    return Standing(outcome, cancellationToken);
                }

                Remember(outcome);
            }

            return null;
        }

        private async Task<RaceResult> RaceAsync(List<Destination> remaining, CancellationToken cancellationToken)
        {
            var connectStarted = _time.GetTimestamp();
            var race = await Connector.RaceAsync(remaining.Select(d => new IPEndPoint(d.Address, d.Port)).ToList(), Connector.AttemptDelay,
                TimeSpan.FromSeconds(options.Config.TimeoutConnect), options.Config.OutgoingIps, cancellationToken).ConfigureAwait(false);
            _trace?.Connect += _time.GetElapsedTime(connectStarted);
            foreach (var (index, result) in race.Failed)
            {
                // Only a timeout counts against the address; a connection or any other failure clears it.
                await RecordAsync(remaining[index], result.TimedOut, cancellationToken).ConfigureAwait(false);
                options.Transcript?.WriteLine($"connect {new IPEndPoint(remaining[index].Address, remaining[index].Port)}: {result.Error}");
                Attempt(remaining[index], "connect: " + result.Error);
                _unreached = true;
            }

            return race;
        }

        /// <summary>Opportunistic TLS failed: the same address once more, without TLS.</summary>
        private async Task<TransactionOutcome> RetryWithoutTlsAsync(Destination destination, TransactionOutcome failed, CancellationToken cancellationToken)
        {
            var plain = TlsPolicy.PlainRetry;
            var retry = await Connector.ConnectAsync(new IPEndPoint(destination.Address, destination.Port), TimeSpan.FromSeconds(options.Config.TimeoutConnect),
                cancellationToken, options.Config.OutgoingIps).ConfigureAwait(false);
            await RecordAsync(destination, retry.TimedOut, cancellationToken).ConfigureAwait(false);
            if (retry.Socket is null)
            {
                Attempt(destination, "connect: " + retry.Error);
                _unreached = true;
                return failed;
            }

            return await TransactAsync(retry.Socket, destination, plain, cancellationToken).ConfigureAwait(false);
        }

        private async Task<TransactionOutcome> TransactAsync(System.Net.Sockets.Socket socket, Destination destination, TlsPolicy policy, CancellationToken cancellationToken)
        {
            // The transaction owns the socket from here: it closes it, or hands it to the connection cache.
            options.Transcript?.WriteLine($"connected to {destination.Address}:{destination.Port} ({destination.ExchangerName}) from {socket.LocalEndPoint}");
            var transactionStarted = _time.GetTimestamp();
            var sessionOptions = options.Connections is null && options.BeforeBody is null ? null
                : new SessionOptions(options.Connections, SessionKey(destination, policy, options.Config, route), options.BeforeBody);
            var local = (socket.LocalEndPoint as IPEndPoint)?.Address;
            var outcome = await transaction.RunAsync(socket, destination, policy, sessionOptions, cancellationToken).ConfigureAwait(false);
            if (options.TlsReport is { } tlsReport && outcome.TlsReport is { } tlsResult)
            {
                await tlsReport.SessionAsync(policy, destination, local, tlsResult).ConfigureAwait(false);
            }

            _trace?.Transaction += _time.GetElapsedTime(transactionStarted);
            _trace?.Tls = outcome.Tls;
            Attempt(destination, outcome.RetryWithoutTls ? "TLS handshake failed"
                : outcome.Refusal != ExchangerRefusal.None ? $"refused: {outcome.Refusal}" : ((char)outcome.Report.Letter).ToString());
            return outcome;
        }

        private async Task RecordAsync(Destination destination, bool timedOut, CancellationToken cancellationToken)
        {
            if (_tcpto is not null)
            {
                await _tcpto.RecordAsync(destination.Address, timedOut, cancellationToken).ConfigureAwait(false);
            }
        }

        private void Attempt(Destination d, string what) =>
            _trace?.Add(new AddressAttempt(d.Address, d.Port, d.ExchangerName, d.Preference, what));
    }
}
