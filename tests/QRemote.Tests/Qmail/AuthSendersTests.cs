using QRemote.Qmail;
using QRemote.Smtp;

namespace QRemote.Tests.Qmail;

/// <summary>control/authsenders read and looked up as s/qmail's: the syntax, the lookup order, how it meets smtproutes,
/// and the lines and senders a hostile or careless file or caller can give.</summary>
public sealed class AuthSendersTests
{
    private static AuthSenders Parse(params string[] lines) => AuthSenders.Parse(lines);

    private static readonly SmtpRoutes NoRoutes = SmtpRoutes.Parse([]);

    [Test]
    public void The_syntax_of_s_qmail_relay_port_and_credentials()
    {
        var senders = Parse(
            "info@example.com:smtp.example.com:26|other|otherpw",
            "@example.com|generic|passwd",
            ".subdomain.example.com|other|sub-pw",
            "mail@example.com|test|testpass",
            ":mailrelay.example.com:587|e=mc2|test|pass");
        Assert.That(senders.Find("info@example.com"), Is.EqualTo(new SenderRoute(
            new SmtpRoute("smtp.example.com", 26, "other", "otherpw") { Source = "authsenders" }, "other", "otherpw")));
        Assert.That(senders.Find("mail@example.com"), Is.EqualTo(new SenderRoute(null, "test", "testpass")));
        Assert.That(senders.Find("else@example.com"), Is.EqualTo(new SenderRoute(null, "generic", "passwd")));
        Assert.That(senders.Find("x@a.subdomain.example.com"), Is.EqualTo(new SenderRoute(null, "other", "sub-pw")));
        // The password is everything after the second bar: it may hold a bar itself.
        Assert.That(senders.Find("someone@other.test")!.Relay, Is.EqualTo(new SmtpRoute("mailrelay.example.com", 587, "e=mc2", "test|pass") { Source = "authsenders" }));
    }

    [Test]
    public void The_lookup_is_the_address_then_each_suffix_at_at_or_dot_then_the_empty_key()
    {
        var senders = Parse("a@x.example.com:[192.0.2.1]", "@x.example.com:[192.0.2.2]", ".example.com:[192.0.2.3]", ".com:[192.0.2.4]", ":[192.0.2.5]");
        Assert.That(senders.Find("a@x.example.com")!.Relay!.Relay, Is.EqualTo("[192.0.2.1]"));
        Assert.That(senders.Find("B@X.Example.COM")!.Relay!.Relay, Is.EqualTo("[192.0.2.2]"), "case-insensitive");
        Assert.That(senders.Find("b@y.example.com")!.Relay!.Relay, Is.EqualTo("[192.0.2.3]"));
        // ".example.com" is every subdomain, not example.com itself (as in smtproutes): this falls to ".com".
        Assert.That(senders.Find("b@example.com")!.Relay!.Relay, Is.EqualTo("[192.0.2.4]"));
        Assert.That(senders.Find("b@example.org")!.Relay!.Relay, Is.EqualTo("[192.0.2.5]"));
        Assert.That(Parse("@x.example.com:[192.0.2.2]").Find("b@example.org"), Is.Null);
    }

    [Test]
    public void The_bounce_sender_matches_only_the_empty_key()
    {
        var senders = Parse("@example.com:[192.0.2.2]", ".com:[192.0.2.4]");
        Assert.That(senders.Find(""), Is.Null);
        Assert.That(Parse("@example.com:[192.0.2.2]", ":[192.0.2.5]").Find("")!.Relay!.Relay, Is.EqualTo("[192.0.2.5]"));
        // qmail-send's double-bounce sender.
        Assert.That(senders.Find("#@[]"), Is.Null);
    }

    [Test]
    public void The_last_line_of_a_key_wins()
    {
        var senders = Parse("@example.com:[192.0.2.1]|u1|p1", "@EXAMPLE.com:[192.0.2.2]|u2|p2");
        Assert.That(senders.Find("a@example.com")!.User, Is.EqualTo("u2"));
        Assert.That(senders.Count, Is.EqualTo(1));
    }

    [Test]
    public void Port_after_a_semicolon_is_s_qmail_4s_spelling_and_a_bare_ipv6_relay_becomes_a_literal()
    {
        var senders = Parse("@a.test:relay.example.net;587|u|p", "@b.test:2001:db8::25;465|u|p", "@c.test:[192.0.2.9]:2525");
        Assert.That(senders.Find("x@a.test")!.Relay, Is.EqualTo(new SmtpRoute("relay.example.net", 587, "u", "p") { Source = "authsenders" }));
        Assert.That(senders.Find("x@b.test")!.Relay, Is.EqualTo(new SmtpRoute("[IPv6:2001:db8::25]", 465, "u", "p") { Source = "authsenders" }));
        Assert.That(senders.Find("x@b.test")!.Relay!.ImplicitTls, Is.True);
        Assert.That(senders.Find("x@c.test")!.Relay, Is.EqualTo(new SmtpRoute("[192.0.2.9]", 2525) { Source = "authsenders" }));
        Assert.That(senders.Find("x@c.test")!.Relay!.ImplicitTls, Is.False);
    }

    [Test]
    public void Junk_lines_are_ignored_and_the_good_ones_kept()
    {
        var senders = Parse(
            "no separator at all",
            "@cr.test:[192.0.2.1]\r|u|p",
            "@nul.test:[192.0.2.1]|u\0x|p",
            "@half.test:[192.0.2.1]|useronly",
            "@empty-user.test:[192.0.2.1]||p",
            "@empty-password.test:[192.0.2.1]|u|",
            "@space.test:relay example.net|u|p",
            "spaced key@x.test:[192.0.2.1]",
            "@good2.test:[192.0.2.8]|u|p");
        foreach (var junk in new[] { "a@cr.test", "a@nul.test", "a@half.test", "a@empty-user.test", "a@empty-password.test", "a@space.test", "key@x.test" })
        {
            Assert.That(senders.Find(junk), Is.Null, junk);
        }

        Assert.That(senders.Count, Is.EqualTo(1));
        Assert.That(senders.Find("a@good2.test")!.Relay!.Relay, Is.EqualTo("[192.0.2.8]"));
    }

    [Test]
    public void A_huge_file_is_read_and_the_last_line_of_a_key_still_wins()
    {
        var lines = Enumerable.Range(0, 200_000).Select(i => $"user{i}@example.com:[192.0.2.{i % 250}]|u{i}|p{i}").Append("user7@example.com:[198.51.100.7]|last|pw");
        var senders = AuthSenders.Parse(lines);
        Assert.That(senders.Count, Is.EqualTo(200_000));
        Assert.That(senders.Find("user7@example.com")!.Relay!.Relay, Is.EqualTo("[198.51.100.7]"));
        Assert.That(senders.Find("user199999@example.com")!.User, Is.EqualTo("u199999"));
    }

    [Test]
    public void A_sender_with_odd_bytes_or_of_128_KB_matches_only_what_it_is()
    {
        var senders = Parse("@example.com:[192.0.2.2]", ":[192.0.2.5]");
        // Control bytes, 8-bit text and dots by the thousand: no key is found in them but the empty one, and the walk
        // over 131072 characters looks up no suffix longer than the longest key.
        Assert.That(senders.Find("a\r\nRCPT TO:<x@evil>@example.com")!.Relay!.Relay, Is.EqualTo("[192.0.2.2]"), "the suffix is @example.com");
        Assert.That(senders.Find("\u00ff\u0000@examplé.com")!.Relay!.Relay, Is.EqualTo("[192.0.2.5]"));
        Assert.That(senders.Find(new string('.', 131072))!.Relay!.Relay, Is.EqualTo("[192.0.2.5]"));
        Assert.That(Parse("@example.com:[192.0.2.2]").Find(new string('.', 131072) + "@example.com")!.Relay!.Relay, Is.EqualTo("[192.0.2.2]"));
    }

    [Test]
    public void A_sender_route_wins_over_smtproutes_and_credentials_alone_go_only_to_an_smtproutes_relay()
    {
        var smtproutes = SmtpRoutes.Parse([".route.test:[192.0.2.50]:2525 old-user old-pw"]);
        var senders = Parse("relayed@example.com:[192.0.2.2]:587|u|p", "@example.com|domain-user|domain-pw", "exempt@example.com:");
        Assert.That(senders.RouteFor("relayed@example.com", "mx.route.test", smtproutes),
            Is.EqualTo(new SmtpRoute("[192.0.2.2]", 587, "u", "p") { Source = "authsenders" }));
        // Credentials alone: the smtproutes relay, with the sender's credentials instead of its own.
        Assert.That(senders.RouteFor("other@example.com", "mx.route.test", smtproutes),
            Is.EqualTo(new SmtpRoute("[192.0.2.50]", 2525, "domain-user", "domain-pw") { Source = "authsenders" }));
        // ... and by MX they are not used: null is "by MX", with nothing.
        Assert.That(senders.RouteFor("other@example.com", "gmail.test", smtproutes), Is.Null);
        // An exemption line (no relay, no credentials): smtproutes as it is.
        Assert.That(senders.RouteFor("exempt@example.com", "mx.route.test", smtproutes), Is.EqualTo(smtproutes.Find("mx.route.test")));
        // No line: smtproutes, else MX.
        Assert.That(senders.RouteFor("x@elsewhere.test", "mx.route.test", smtproutes), Is.EqualTo(new SmtpRoute("[192.0.2.50]", 2525, "old-user", "old-pw")));
        Assert.That(senders.RouteFor("x@elsewhere.test", "gmail.test", smtproutes), Is.Null);
        Assert.That(AuthSenders.Empty.RouteFor("relayed@example.com", "gmail.test", NoRoutes), Is.Null);
    }

    [Test]
    public void Show_config_prints_no_password()
    {
        Assert.That(SmtpRouteDisplay.AuthSenderWithoutPassword("info@example.com:smtp.example.com:26|other|otherpw|x"), Is.EqualTo("info@example.com:smtp.example.com:26|other|********"));
        Assert.That(SmtpRouteDisplay.AuthSenderWithoutPassword("info@example.com:smtp.example.com:26"), Is.EqualTo("info@example.com:smtp.example.com:26"));
        Assert.That(SmtpRouteDisplay.AuthSenderWithoutPassword("@x.test|onlyuser"), Is.EqualTo("@x.test|onlyuser"));
    }

    [Test]
    public void The_strongest_mechanism_both_sides_have_whatever_the_servers_order()
    {
        Assert.That(SaslRanking.Strongest(["PLAIN", "LOGIN", "SCRAM-SHA-1", "SCRAM-SHA-256"]), Is.EqualTo("SCRAM-SHA-256"));
        Assert.That(SaslRanking.Strongest(["login", "scram-sha-1", "plain"]), Is.EqualTo("SCRAM-SHA-1"));
        Assert.That(SaslRanking.Strongest(["LOGIN", "PLAIN"]), Is.EqualTo("PLAIN"));
        Assert.That(SaslRanking.Strongest(["LOGIN"]), Is.EqualTo("LOGIN"));
        Assert.That(SaslRanking.Strongest(["NTLM", "GSSAPI", "DIGEST-MD5", "XOAUTH2"]), Is.Null);
        Assert.That(SaslRanking.Strongest(["PLAIN", "NTLM"]), Is.EqualTo("PLAIN"), "NTLM is above PLAIN in MailKit's rank, never used here");
    }
}
