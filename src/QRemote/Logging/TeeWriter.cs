using System.Text;

namespace QRemote.Logging;

/// <summary>Writes every line to several writers: the --verbose transcript on stderr and the debug log.</summary>
internal sealed class TeeWriter(params TextWriter[] writers) : TextWriter
{
    public override Encoding Encoding => Encoding.UTF8;

    public override void Write(char value)
    {
        foreach (var w in writers)
        {
            w.Write(value);
        }
    }

    public override void Write(string? value)
    {
        foreach (var w in writers)
        {
            w.Write(value);
        }
    }

    public override void WriteLine(string? value)
    {
        foreach (var w in writers)
        {
            w.WriteLine(value);
        }
    }
}
