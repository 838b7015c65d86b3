namespace QRemote.Qmail;

/// <summary>The message letters of qmail-remote(8): exactly one ends every report.</summary>
internal enum MessageLetter
{
    /// <summary><c>K</c>: the server took the message (2xx after the final dot).</summary>
    Delivered = 'K',
    /// <summary><c>Z</c>: temporary failure; qmail-send retries.</summary>
    Deferred = 'Z',
    /// <summary><c>D</c>: permanent failure; qmail-send bounces.</summary>
    Failed = 'D',
}
