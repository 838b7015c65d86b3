using QRemote.Smtp;

namespace QRemote.Delivery;

/// <summary>Idle SMTP connections kept between deliveries (<see cref="Daemon.ConnectionCache"/>).</summary>
internal interface ISessionCache
{
    /// <summary>Keeps <paramref name="session"/> for reuse; false when it may not be kept (then the caller closes it).</summary>
    bool TryPut(string key, SmtpSession session);

    /// <summary>An idle connection for <paramref name="key"/> that still looks alive, or null.</summary>
    SmtpSession? TryTake(string key);
}
