namespace QRemote.Qmail;

/// <summary>The per-recipient letters of qmail-remote(8).</summary>
internal enum RecipientLetter
{
    /// <summary><c>r</c>: the server accepted the recipient (2xx).</summary>
    Accepted = 'r',
    /// <summary><c>h</c>: the server rejected the recipient permanently (5xx).</summary>
    Rejected = 'h',
    /// <summary><c>s</c>: the recipient was not accepted, try again later.</summary>
    Deferred = 's',
}
