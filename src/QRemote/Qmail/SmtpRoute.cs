namespace QRemote.Qmail;

/// <summary>One relay route: from <c>control/smtproutes</c> (a relay, a name or an <c>[ip]</c> literal, and port, with
/// optional AUTH credentials in the syntax of the common qmail AUTH patch) or from <c>control/authsenders</c>
/// (<see cref="AuthSenders"/>).</summary>
internal sealed record SmtpRoute(string Relay, int Port, string? User = null, string? Password = null)
{
    /// <summary>The port of SMTP submission over implicit TLS (RFC 8314 3.3, "submissions").</summary>
    public const int ImplicitTlsPort = 465;

    /// <summary>The control file the route came from, for the transcript and the texts that name a route's credentials.</summary>
    public string Source { get; init; } = "smtproutes";

    /// <summary>Port 465 is TLS from the first byte (RFC 8314): no greeting in plain text, no STARTTLS, and never a
    /// retry without TLS (nothing else listens there).</summary>
    public bool ImplicitTls => Port == ImplicitTlsPort;

    public override string ToString() => Port == 25 ? Relay : FormattableString.Invariant($"{Relay}:{Port}");
}
