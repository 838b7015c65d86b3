namespace QRemote.Delivery;

/// <summary>Why one exchanger definitely cannot take this message when another might: the delivery goes on to the next,
/// and ends in D only when every exchanger refused it for the same one of these reasons (docs/tls.md, REQUIRETLS).</summary>
internal enum ExchangerRefusal
{
    /// <summary>Not a refusal of this kind: the outcome stands as it is.</summary>
    None,
    /// <summary>An address needs SMTPUTF8 (RFC 6531) and the server does not offer it.</summary>
    SmtpUtf8,
    /// <summary>The message is under REQUIRETLS (RFC 8689) and this exchanger has no verified TLS policy, does not offer
    /// STARTTLS, presents a certificate that does not verify, or does not offer REQUIRETLS.</summary>
    RequireTls,
}
