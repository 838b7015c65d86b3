using QRemote.Tests.Infrastructure;

namespace QRemote.Tests;

/// <summary>
/// The peers shared by tests in any folder, started lazily by the first test that needs one, are stopped here once,
/// after every test in the assembly has run: tests live by subject, not by the fixture that starts their peers.
/// </summary>
[SetUpFixture]
public sealed class SharedPeers
{
    [OneTimeTearDown]
    public void Stop() => DnsFixture.StopIfStarted();
}
