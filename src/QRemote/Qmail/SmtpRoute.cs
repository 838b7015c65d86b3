namespace QRemote.Qmail;

/// <summary>One <c>control/smtproutes</c> target: a relay (a name or an <c>[ip]</c> literal) and port,
/// with optional AUTH credentials in the syntax of the common qmail AUTH patch.</summary>
internal sealed record SmtpRoute(string Relay, int Port, string? User = null, string? Password = null)
{
    public override string ToString() => Port == 25 ? Relay : FormattableString.Invariant($"{Relay}:{Port}");
}
