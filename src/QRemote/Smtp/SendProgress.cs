namespace QRemote.Smtp;

/// <summary>What the server answered to one transaction, command by command, as far as it got.</summary>
internal sealed class SendProgress
{
    /// <summary>How far the dialogue got: <see cref="SmtpStage.Greeting"/> on a fresh connection, <see cref="SmtpStage.Mail"/>
    /// on a reused one. MailKit drives greeting, EHLO, STARTTLS and AUTH, so for those the stage moves with each
    /// command it writes (<see cref="Opened"/>); from MAIL on, <see cref="PipelinedSender"/> sets it.</summary>
    public SmtpStage Stage { get; set; } = SmtpStage.Mail;

    /// <summary>The stage after the client sent <paramref name="verb"/> while the connection is being opened
    /// (any other command, or a stage from MAIL on, leaves it as it is).</summary>
    public void Opened(string verb)
    {
        if (Stage < SmtpStage.Mail)
        {
            Stage = verb switch
            {
                "EHLO" or "HELO" => SmtpStage.Hello,
                "STARTTLS" => SmtpStage.StartTls,
                "AUTH" => SmtpStage.Auth,
                _ => Stage,
            };
        }
    }

    /// <summary>The reply to RSET, on a reused connection. Not 2xx: the connection is in no known state (the last
    /// transaction may still be open), so nothing more is read or sent and the caller gives the connection up.</summary>
    public SmtpReply? Reset { get; set; }

    public SmtpReply? Mail { get; set; }

    /// <summary>One reply per envelope recipient sent, in order; fewer if the connection broke.</summary>
    public List<SmtpReply> Recipients { get; } = [];

    /// <summary>The reply to DATA (354 or a refusal), or to BDAT LAST (the final word).</summary>
    public SmtpReply? Data { get; set; }

    /// <summary>The reply after the final dot (DATA), or to BDAT LAST.</summary>
    public SmtpReply? Final { get; set; }
}
