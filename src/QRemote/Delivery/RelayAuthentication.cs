using System.Net;
using MailKit.Security;
using QRemote.Qmail;
using QRemote.Smtp;

namespace QRemote.Delivery;

/// <summary>AUTH with a route's credentials (smtproutes or authsenders), only inside TLS: never a plain-text password,
/// and one mechanism, the strongest both sides have (<see cref="SaslRanking"/>).</summary>
internal static class RelayAuthentication
{
    /// <summary>Null when the transaction may go on (authenticated, no credentials, or a relay that offers no AUTH);
    /// else the outcome, the session ended.</summary>
    public static async Task<TransactionOutcome?> RunAsync(SmtpSession session, IPAddress ip, SmtpRoute? route, TextWriter? transcript, CancellationToken cancellationToken)
    {
        var client = session.Client;
        if (route is not { User: { } user, Password: { } password })
        {
            return null;
        }

        if (!client.IsSecure)
        {
            await session.QuitAsync().ConfigureAwait(false);
            return new(Reports.AuthWithoutTls(ip), TryNextAddress: true);
        }

        if (client.AuthenticationMechanisms.Count == 0)
        {
            transcript?.WriteLine("auth: the relay offers no AUTH; sending without");
            return null;
        }

        if (SaslRanking.Strongest(client.AuthenticationMechanisms) is not { } name)
        {
            // AUTH offered, but only mechanisms we do not use: sending without would be refused as unauthenticated
            // (a bounce, perhaps); the operator decides, the mail waits.
            await session.QuitAsync().ConfigureAwait(false);
            return new(Reports.AuthNoMechanism(ip, string.Join(' ', client.AuthenticationMechanisms.Order(StringComparer.Ordinal))), TryNextAddress: true);
        }

        try
        {
            // Every name SaslRanking gives is one MailKit makes here (it asked IsSupported).
            var mechanism = SaslMechanism.Create(name, new NetworkCredential(user, password))
                ?? throw new AuthenticationException($"MailKit cannot make {name} here");
            transcript?.WriteLine($"auth: {name}, the strongest of {string.Join(' ', client.AuthenticationMechanisms.Order(StringComparer.Ordinal))}");
            await client.AuthenticateAsync(mechanism, cancellationToken).ConfigureAwait(false);
            transcript?.WriteLine($"auth: authenticated as {user}");
            return null;
        }
        catch (Exception e) when (e is AuthenticationException or SaslException)
        {
            // Refused (535), or a server whose challenge made no sense: never another, weaker mechanism.
            var reply = session.Recorder.LastReply is { Code: >= 400 } last ? last : SmtpReply.FromMailKit(535, e.Message);
            await session.QuitAsync().ConfigureAwait(false);
            return new(DeliveryReport.MessageOnly(MessageLetter.Deferred, Reports.AuthFailed(ip) + Reports.RemoteHostSaid(reply.Lines)), false);
        }
        catch (Exception e) when (OpeningFailures.IsConnectionFailure(e))
        {
            return new(Reports.ConnectionDied(ip, possibleDuplicate: false, []), TryNextAddress: true);
        }
    }
}
