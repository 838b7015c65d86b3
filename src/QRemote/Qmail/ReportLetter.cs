namespace QRemote.Qmail;

/// <summary>The per-recipient letters of qmail-remote(8).</summary>
public enum RecipientLetter
{
    /// <summary><c>r</c>: the server accepted the recipient (2xx).</summary>
    Accepted = 'r',
    /// <summary><c>h</c>: the server rejected the recipient permanently (5xx).</summary>
    Rejected = 'h',
    /// <summary><c>s</c>: the recipient was not accepted, try again later.</summary>
    Deferred = 's',
}

/// <summary>The message letters of qmail-remote(8): exactly one ends every report.</summary>
public enum MessageLetter
{
    /// <summary><c>K</c>: the server took the message (2xx after the final dot).</summary>
    Delivered = 'K',
    /// <summary><c>Z</c>: temporary failure; qmail-send retries.</summary>
    Deferred = 'Z',
    /// <summary><c>D</c>: permanent failure; qmail-send bounces.</summary>
    Failed = 'D',
}
