using QRemote.Tests.Infrastructure;

namespace QRemote.Tests;

public sealed class CommandLineTests
{
    private static CommandLine Parse(params string[] args) => CommandLine.Parse(args, _ => null);

    [Test]
    public void Qmail_argv_is_read_by_position_and_never_as_options()
    {
        var command = Parse("example.com", "-x@y", "--not-an-option@z");
        Assert.That(command.Positional, Is.EqualTo(new[] { "example.com", "-x@y", "--not-an-option@z" }));
        Assert.That(command.Error, Is.Null);
    }

    [Test]
    public void Options_only_before_the_host()
    {
        var command = Parse("--verbose", "--qmail-home=/q", "--smtp-port", "2525", "host", "", "r@x");
        Assert.That((command.Verbose, command.QmailHome, command.SmtpPort), Is.EqualTo((true, "/q", 2525)));
        Assert.That(command.Positional, Is.EqualTo(new[] { "host", "", "r@x" }));
    }

    [Test]
    public void Environment_overrides_for_wrappers()
    {
        var command = CommandLine.Parse(["h", "s", "r"], name => name == "QREMOTE_QMAIL_HOME" ? "/alt" : null);
        Assert.That(command.QmailHome, Is.EqualTo("/alt"));
    }

    [Test]
    public void The_qmail_home_is_found_from_qmail_rspawns_working_directory()
    {
        using var qmail = TempQmailHome.Create(me: null);
        var home = qmail.Path;
        Directory.CreateDirectory(Path.Combine(home, "queue", "mess"));
        Assert.That(CommandLine.Parse(["h", "s", "r"], _ => null, Path.Combine(home, "queue", "mess")).QmailHome, Is.EqualTo(home));
        Assert.That(CommandLine.Parse(["h", "s", "r"], _ => null, home).QmailHome, Is.EqualTo("/var/qmail"));
        Assert.That(CommandLine.Parse(["--qmail-home=/q", "h", "s", "r"], _ => null, Path.Combine(home, "queue", "mess")).QmailHome, Is.EqualTo("/q"));
    }

    [Test]
    public void Unknown_option_is_an_error()
    {
        Assert.That(Parse("--bogus", "h", "s", "r").Error, Is.EqualTo("unknown option --bogus"));
    }
}
