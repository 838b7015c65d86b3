using System.Runtime.InteropServices;

namespace QRemote.Posix;

/// <summary>
/// SIGTERM (an operator stopping qmail, a supervisor) and SIGINT (^C) cancel <see cref="Token"/> instead of ending the
/// process: a delivery ends with its Z report ("Possible duplicate!" once the final dot went) and exit 0, the daemon
/// stops accepting and finishes in order. One registration for both programs.
/// </summary>
internal sealed class StopSignals : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly PosixSignalRegistration _term;
    private readonly PosixSignalRegistration _interrupt;

    public StopSignals()
    {
        _term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        _interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
    }

    public CancellationToken Token => _stop.Token;

    public bool Requested => _stop.IsCancellationRequested;

    public void Dispose()
    {
        _term.Dispose();
        _interrupt.Dispose();
        _stop.Dispose();
    }

    private void Stop(PosixSignalContext context)
    {
        context.Cancel = true;
        _stop.Cancel();
    }
}
