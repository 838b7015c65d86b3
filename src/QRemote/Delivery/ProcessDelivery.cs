using QRemote.Daemon;
using QRemote.Dns;
using QRemote.Message;
using QRemote.Qmail;

namespace QRemote.Delivery;

/// <summary>
/// A delivery process, from its argv to its report: checks what qmail-rspawn gave, hands the delivery to the daemon
/// when the operator runs one, and otherwise opens the control files and the message and delivers by itself. Each
/// step touches only what it needs, so a handed-over delivery never starts the DNS, SMTP or TLS code.
/// </summary>
internal static class ProcessDelivery
{
    public static async Task<DeliveryReport> RunAsync(CommandLine command, CancellationToken cancellationToken)
    {
        if (Invocation.FromPositional(command.Positional) is not { } invocation)
        {
            return Reports.InvokedImproperly();
        }

        if (command.Error is not null)
        {
            // A setting from the environment is wrong (QREMOTE_SMTP_PORT=x): the operator's mistake, so a deferral.
            return Reports.BadSetting(command.Error);
        }

        if (!RawArguments.AreUtf8(command.Positional, RawArguments.ReadProcCommandLine))
        {
            return Reports.ArgumentNotUtf8();
        }

        if (HandOver.Try(command, invocation, cancellationToken) is { } handed)
        {
            return handed;
        }

        if (!MailRouteResolver.TryLiteral(invocation.Host, out _))
        {
            // DNS will be needed: ARSoft draws its message IDs from the kernel rather than from OpenSSL (ArSoftRandom).
            ArSoftRandom.Install();
        }

        if (DeliveryRun.LoadConfig(command.QmailHome, out var unreadable) is not { } config)
        {
            return unreadable!;
        }

        MessageSource message;
        try
        {
            message = await MessageSource.OpenStandardInputAsync(Environment.GetEnvironmentVariable("TMPDIR"), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Reports.UnableToReadMessage();
        }

        await using (message.ConfigureAwait(false))
        {
            return await DeliveryRun.RunAsync(command, invocation, config, message, null, cancellationToken).ConfigureAwait(false);
        }
    }
}
