namespace QRemote.Qmail;

/// <summary>A control file exists but could not be read.</summary>
internal sealed class ControlFileException(string path, Exception inner)
    : Exception($"cannot read {path}: {inner.Message}", inner)
{
    public string Path { get; } = path;
}
