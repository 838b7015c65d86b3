namespace QRemote.Tests;

/// <summary><c>qremote --plan</c> shows the TLS policy a delivery would apply to each exchanger, decided by the same
/// resolver the delivery uses (an address literal: no DNS needed).</summary>
public sealed class PlanTlsTests
{
    private string _home = "";

    [SetUp]
    public void CreateHome()
    {
        _home = Path.Combine(Path.GetTempPath(), $"qremote-plan-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path.Combine(_home, "control"));
        File.WriteAllText(Path.Combine(_home, "control", "me"), "plan.qremote.test\n");
    }

    [TearDown]
    public void RemoveHome() => Directory.Delete(_home, recursive: true);

    private string Plan(string host)
    {
        var command = CommandLine.Parse(["--plan", host], name => name == "QREMOTE_QMAIL_HOME" ? _home : null);
        Assert.That(command.Plan, Is.True);
        using var output = new StringWriter();
        PersonCommands.PlanAsync(command, output).GetAwaiter().GetResult();
        return output.ToString();
    }

    [Test]
    public void Without_a_policy_file_the_plan_says_opportunistic()
    {
        Assert.That(Plan("[127.0.0.1]"), Does.Contain("\n  [127.0.0.1]: Opportunistic (no policy file: opportunistic)\n"));
    }

    [Test]
    public void Notlshosts_shows_as_off()
    {
        Directory.CreateDirectory(Path.Combine(_home, "control", "notlshosts"));
        File.WriteAllText(Path.Combine(_home, "control", "notlshosts", "[127.0.0.1]"), "");
        Assert.That(Plan("[127.0.0.1]"), Does.Contain("\n  [127.0.0.1]: Off (control/notlshosts/[127.0.0.1])\n"));
    }

    [Test]
    public void Tlshosts_shows_as_verified_against_its_file()
    {
        Directory.CreateDirectory(Path.Combine(_home, "control", "tlshosts"));
        File.WriteAllText(Path.Combine(_home, "control", "tlshosts", "[127.0.0.2].pem"), "");
        var plan = Plan("[127.0.0.2]");
        Assert.That(plan, Does.Contain("\n  [127.0.0.2]: Verified (control/tlshosts/[127.0.0.2].pem)\n"));
        Assert.That(plan, Does.Not.Contain("opportunistic (no policy"), "the old fixed sentence is gone");
    }

    [Test]
    public void Smtproutes_credentials_never_show_as_opportunistic()
    {
        File.WriteAllText(Path.Combine(_home, "control", "smtproutes"), "routed.test:[127.0.0.3]:2525 alice s3cret\n");
        var line = Plan("routed.test").Split('\n').Single(l => l.StartsWith("  [127.0.0.3]: ", StringComparison.Ordinal));
        Assert.That(line, Does.StartWith("  [127.0.0.3]: Verified (the system trust roots in ").Or.StartWith("  [127.0.0.3]: Unusable (smtproutes credentials"));
        Assert.That(line, Does.Not.Contain("s3cret"));
    }
}
