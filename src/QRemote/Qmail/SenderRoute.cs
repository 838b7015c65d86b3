namespace QRemote.Qmail;

/// <summary>One <c>control/authsenders</c> line: the sender's relay (null: the route smtproutes gives the recipient
/// host), and credentials (both null: none).</summary>
internal sealed record SenderRoute(SmtpRoute? Relay, string? User, string? Password);
