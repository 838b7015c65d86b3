using QRemote.Qmail;

namespace QRemote.Tests.Qmail;

public sealed class ControlFileTests
{
    private string _dir = "";

    [SetUp]
    public void MakeDirectory() => _dir = Directory.CreateTempSubdirectory("qremote-control-").FullName;

    [TearDown]
    public void RemoveDirectory() => Directory.Delete(_dir, recursive: true);

    private ControlFiles Control => new(_dir);

    private void Write(string name, string text) => File.WriteAllText(Path.Combine(_dir, name), text);

    [Test]
    public void Helohost_defaults_to_me_and_neither_is_a_control_failure()
    {
        Assert.Throws<ControlFileException>(() => QmailConfig.Load(Control));
        Write("me", "mail.example.org \t\nsecond line\n");
        Assert.That(QmailConfig.Load(Control).HeloHost, Is.EqualTo("mail.example.org"));
        Write("helohost", "helo.example.org\n");
        Assert.That(QmailConfig.Load(Control).HeloHost, Is.EqualTo("helo.example.org"));
    }

    [TestCase("evil\rRSET")]
    [TestCase("two words")]
    [TestCase("nul\0")]
    public void A_helo_name_that_would_inject_commands_is_a_control_failure(string name)
    {
        Write("helohost", name + "\n");
        Assert.Throws<ControlFileException>(() => QmailConfig.Load(Control));
    }

    /// <summary>Past 2,147,483 s a timeout's milliseconds overflow (MailKit's Timeout, CancelAfter): capped at a day when
    /// read, so a delivery still works (to smtp-sink, with the configuration loaded from these files).</summary>
    [TestCase("3000000")]
    [TestCase("99999999999999")]
    public async Task A_huge_timeout_is_capped_and_delivery_still_works(string seconds)
    {
        Write("me", "qremote.test\n");
        Write("timeoutconnect", seconds + "\n");
        Write("timeoutremote", seconds + "\n");
        var config = QmailConfig.Load(Control);
        using var sink = Infrastructure.SmtpSink.Start();
        var report = await Infrastructure.Harness.DeliverAsync("[127.0.0.1]", "s@qremote.test", ["r@example.test"], "Subject: x\n\nb\n",
            new() { Config = config, SmtpPort = sink.EndPoint.Port });
        Assert.That(report, Does.StartWith("r\\0K127.0.0.1 accepted message."));
        Assert.That((config.TimeoutConnect, config.TimeoutRemote), Is.EqualTo((86_400, 86_400)));
        Assert.That(config.Settings.Single(s => s.Name == "timeoutremote").Value, Is.EqualTo("86400"));
    }

    [Test]
    public void Timeouts_default_and_parse_as_qmail_does()
    {
        Write("me", "m\n");
        var config = QmailConfig.Load(Control);
        Assert.That((config.TimeoutConnect, config.TimeoutRemote), Is.EqualTo((60, 1200)));
        Write("timeoutconnect", "5 seconds\n");
        Write("timeoutremote", "soon\n");
        config = QmailConfig.Load(Control);
        Assert.That((config.TimeoutConnect, config.TimeoutRemote), Is.EqualTo((5, 1200)), "leading digits are read; no digits keeps the default");
    }

    [Test]
    public void Unreadable_control_file_is_a_control_failure()
    {
        if (Environment.UserName == "root")
        {
            // root reads a 000 file; a directory in the file's place is unreadable for everyone.
            Directory.CreateDirectory(Path.Combine(_dir, "me"));
        }
        else
        {
            Write("me", "m\n");
            File.SetUnixFileMode(Path.Combine(_dir, "me"), UnixFileMode.None);
        }

        Assert.Throws<ControlFileException>(() => QmailConfig.Load(Control));
    }

    [Test]
    public void Lists_skip_blank_and_comment_lines_and_strip_trailing_space()
    {
        Write("smtproutes", "# comment\n\nexample.com:relay.example.net \t\n  \nno colon here\n");
        Assert.That(Control.ReadLines("smtproutes"), Is.EqualTo(new[] { "example.com:relay.example.net", "no colon here" }));
    }
}

public sealed class SmtpRoutesTests
{
    private static SmtpRoutes Parse(params string[] lines) => SmtpRoutes.Parse(lines);

    [Test]
    public void Whole_host_then_dot_suffixes_longest_first_then_the_default()
    {
        var routes = Parse(":default.example", ".b.c:suffix-bc", ".c:suffix-c", "a.b.c:exact");
        Assert.That(routes.Find("a.b.c")?.Relay, Is.EqualTo("exact"));
        Assert.That(routes.Find("x.b.c")?.Relay, Is.EqualTo("suffix-bc"));
        Assert.That(routes.Find("b.c")?.Relay, Is.EqualTo("suffix-c"), ".b.c does not match b.c itself");
        Assert.That(routes.Find("other.org")?.Relay, Is.EqualTo("default.example"));
    }

    [Test]
    public void Empty_relay_means_mx_and_stops_the_search()
    {
        var routes = Parse(":catchall", ".af.mil:");
        Assert.That(routes.Find("x.af.mil"), Is.Null);
        Assert.That(routes.Find("x.org")?.Relay, Is.EqualTo("catchall"));
    }

    [Test]
    public void Keys_are_case_insensitive_and_the_last_line_wins()
    {
        var routes = Parse("Example.COM:first", "example.com:second");
        Assert.That(routes.Find("EXAMPLE.com")?.Relay, Is.EqualTo("second"));
    }

    [Test]
    public void Ports_literals_and_credentials()
    {
        var routes = Parse("a:relay.example:2525", "b:[192.0.2.1]:26", "c:[IPv6:2001:db8::1]", "d:relay:587 user secret", "e:relay:junk");
        Assert.That(routes.Find("a"), Is.EqualTo(new SmtpRoute("relay.example", 2525)));
        Assert.That(routes.Find("b"), Is.EqualTo(new SmtpRoute("[192.0.2.1]", 26)));
        Assert.That(routes.Find("c"), Is.EqualTo(new SmtpRoute("[IPv6:2001:db8::1]", 25)));
        Assert.That(routes.Find("d"), Is.EqualTo(new SmtpRoute("relay", 587, "user", "secret")));
        Assert.That(routes.Find("e"), Is.EqualTo(new SmtpRoute("relay", 25)));
    }
}

public sealed class EnvelopeAddressTests
{
    [TestCase("user@example.com", "user@example.com")]
    [TestCase("", "")]
    [TestCase("postmaster", "postmaster")]
    [TestCase("#@[]", "#@[]")]
    [TestCase("-x@y", "-x@y")]
    [TestCase("a..b@x", "\"a..b\"@x")]
    [TestCase(".a@x", "\".a\"@x")]
    [TestCase("a.@x", "\"a.\"@x")]
    [TestCase("sp ace@x", "\"sp ace\"@x")]
    [TestCase("a\"b@x", "\"a\\\"b\"@x")]
    [TestCase("a\\b@x", "\"a\\\\b\"@x")]
    [TestCase("@x", "\"\"@x")]
    [TestCase("a@b@x", "\"a@b\"@x")]
    [TestCase("j\u00f6rg@x", "j\u00f6rg@x")]
    [TestCase("a+b=c/d!#$%&'*^_`{|}~@x", "a+b=c/d!#$%&'*^_`{|}~@x")]
    public void Local_parts_are_quoted_as_qmail_quotes_them(string address, string wire)
    {
        Assert.That(EnvelopeAddress.ToWire(address), Is.EqualTo(wire));
    }

    [TestCase("a\r\nRSET@x")]
    [TestCase("a\n@x")]
    [TestCase("a\0@x")]
    public void Cr_lf_and_nul_never_reach_the_wire(string address)
    {
        Assert.That(EnvelopeAddress.ToWire(address), Is.Null);
    }
}
