using System.Text;

namespace QRemote.Tests.Infrastructure;

/// <summary>A program run to its end by <see cref="ExternalProcess.RunToEnd"/>.</summary>
internal sealed record FinishedProcess(int ExitCode, byte[] Output, string Errors)
{
    /// <summary>Standard output as UTF-8 text.</summary>
    public string Text => Encoding.UTF8.GetString(Output);

    /// <summary>Standard output with each NUL shown as \0, as the report assertions read.</summary>
    public string Shown => Harness.Shown(Output);
}
