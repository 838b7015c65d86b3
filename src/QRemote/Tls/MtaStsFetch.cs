namespace QRemote.Tls;

/// <summary>The body of a policy file, or why there is none.</summary>
internal sealed record MtaStsFetch(string? Body, string? Error);
