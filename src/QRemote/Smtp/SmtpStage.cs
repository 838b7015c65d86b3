namespace QRemote.Smtp;

/// <summary>Where in the SMTP dialogue a transaction stands; decides which report a failure gets.</summary>
public enum SmtpStage
{
    Greeting,
    Hello,
    Mail,
    Rcpt,
    Data,
    /// <summary>Body bytes are going out; the final dot may follow at any moment.</summary>
    Body,
    /// <summary>The final dot (or BDAT LAST) is sent: a failure now may be a duplicate.</summary>
    AfterDot,
}
