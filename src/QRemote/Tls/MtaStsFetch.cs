namespace QRemote.Tls;

/// <summary>The body of a policy file, or why there is none.</summary>
internal sealed record MtaStsFetch(string? Body, string? Error)
{
    /// <summary>The policy host's certificate did not verify (TLS reporting's sts-webpki-invalid).</summary>
    public bool WebPkiInvalid { get; init; }
}
