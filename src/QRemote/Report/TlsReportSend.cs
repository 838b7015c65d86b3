namespace QRemote.Report;

/// <summary>What sending a report to one destination came to.</summary>
internal enum TlsReportSendStatus
{
    /// <summary>Queued (qmail-inject exited 0) or accepted (HTTP 2xx): not sent again.</summary>
    Sent,

    /// <summary>Worth another try on the next run: the report stays.</summary>
    Temporary,

    /// <summary>Never going to work (qmail-inject exited 100, HTTP 4xx): given up, not tried again.</summary>
    Permanent,
}

/// <param name="Detail">One line for the person running the reporter.</param>
internal sealed record TlsReportSend(TlsReportSendStatus Status, string Detail);
