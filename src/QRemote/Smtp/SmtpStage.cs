namespace QRemote.Smtp;

/// <summary>Where in the SMTP dialogue a transaction stands; decides which report a failure gets. The transaction
/// owns it (<see cref="SendProgress.Stage"/>) and moves it on as each command goes out.</summary>
internal enum SmtpStage
{
    /// <summary>Connected, waiting for the greeting: a refusal now is "greeting failed".</summary>
    Greeting,
    /// <summary>EHLO or HELO sent (also the EHLO again after STARTTLS): a refusal is "my name was rejected".</summary>
    Hello,
    /// <summary>STARTTLS sent, or its handshake under way: a failure here is TLS's.</summary>
    StartTls,
    /// <summary>AUTH sent (smtproutes credentials).</summary>
    Auth,
    Mail,
    Rcpt,
    Data,
    /// <summary>Body bytes are going out; the final dot may follow at any moment.</summary>
    Body,
    /// <summary>The final dot (or BDAT LAST) is sent: a failure now may be a duplicate.</summary>
    AfterDot,
}
