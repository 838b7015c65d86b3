using System.Diagnostics;

namespace QRemote.Report;

/// <summary>
/// Queues a report message through qmail's own <c>bin/qmail-inject</c>, so qmail delivers it with its retries and
/// bounces (as Postfix's reporter hands its reports to sendmail): <c>qmail-inject -a -fFROM RCPT</c>, the message on
/// standard input, exit 0 queued, 100 refused for good, anything else (or no exit within <see cref="Timeout"/>)
/// temporary.
/// </summary>
internal static class TlsReportInject
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    public static async Task<TlsReportSend> QueueAsync(string qmailInject, string from, string to, byte[] message, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(qmailInject)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("-a");
        start.ArgumentList.Add("-f" + from);
        start.ArgumentList.Add(to);
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException("not started");
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            return new(TlsReportSendStatus.Temporary, $"cannot run {qmailInject}: {e.Message}");
        }

        using (process)
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(Timeout);
            var output = process.StandardOutput.ReadToEndAsync(deadline.Token);
            var errors = process.StandardError.ReadToEndAsync(deadline.Token);
            try
            {
                await process.StandardInput.BaseStream.WriteAsync(message, deadline.Token).ConfigureAwait(false);
                process.StandardInput.Close();
                await process.WaitForExitAsync(deadline.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or IOException)
            {
                try
                {
                    process.Kill();
                }
                catch (InvalidOperationException)
                {
                }

                return new(TlsReportSendStatus.Temporary, e is OperationCanceledException ? $"qmail-inject gave no exit in {Timeout.TotalSeconds:0} s" : $"qmail-inject: {e.Message}");
            }

            var said = (await errors.ConfigureAwait(false) + await output.ConfigureAwait(false)).Trim().Replace('\n', ' ');
            return process.ExitCode switch
            {
                0 => new(TlsReportSendStatus.Sent, "queued by qmail-inject"),
                100 => new(TlsReportSendStatus.Permanent, $"qmail-inject refused it (exit 100){(said.Length > 0 ? ": " + said : "")}"),
                var code => new(TlsReportSendStatus.Temporary, $"qmail-inject exit {code}{(said.Length > 0 ? ": " + said : "")}"),
            };
        }
    }
}
