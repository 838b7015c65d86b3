namespace QRemote.Smtp;

/// <summary>
/// Which SASL mechanism a relay gets: the strongest both sides have, in MailKit's own ranking (its
/// <c>SaslMechanism.RankedAuthenticationMechanisms</c>: SCRAM-SHA-512, SCRAM-SHA-256, SCRAM-SHA-1, NTLM, DIGEST-MD5,
/// CRAM-MD5, PLAIN, LOGIN) without NTLM (MailKit's least reliable, its own note says) and DIGEST-MD5 (historic, RFC 6331).
/// One mechanism, tried once: MailKit's <c>AuthenticateAsync(ICredentials)</c> goes down its list after a refusal, so
/// a relay (or a man in the middle of an unverified one) that refuses SCRAM would get the password itself through
/// PLAIN; here the order of the server's list, and a refusal, change nothing.
/// </summary>
internal static class SaslRanking
{
    public static IReadOnlyList<string> Ranked { get; } = ["SCRAM-SHA-512", "SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "PLAIN", "LOGIN"];

    /// <summary>The mechanism to use among those <paramref name="offered"/> (EHLO's AUTH keyword), or null when none is ours
    /// (CRAM-MD5 counts only where this platform has MD5, as MailKit decides).</summary>
    public static string? Strongest(IEnumerable<string> offered)
    {
        var set = new HashSet<string>(offered, StringComparer.OrdinalIgnoreCase);
        return Ranked.FirstOrDefault(m => set.Contains(m) && MailKit.Security.SaslMechanism.IsSupported(m));
    }
}
