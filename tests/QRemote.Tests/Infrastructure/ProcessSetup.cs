namespace QRemote.Tests.Infrastructure;

/// <summary>How <see cref="ExternalProcess.RunToEnd"/> runs a program.</summary>
internal sealed record ProcessSetup
{
    /// <summary>Written to its standard input, which is then closed; null: closed at once.</summary>
    public byte[]? Input { get; init; }

    /// <summary>Null: the test's own.</summary>
    public string? WorkingDirectory { get; init; }

    /// <summary>Variables set in (or, with a null value, removed from) the test's environment.</summary>
    public IReadOnlyDictionary<string, string?>? Environment { get; init; }

    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(60);
}
