using System.Net;
using QRemote.Tests.Infrastructure;

namespace QRemote.Tests.Smtp;

/// <summary>Misbehaviour no real server produces on purpose, each with its exact report.</summary>
public sealed class ScriptedServerTests
{
    private static readonly IPAddress Address = IPAddress.Parse("127.0.0.4");
    private const string Message = "Subject: x\n\nbody\n";

    private static async Task<(string Report, ScriptedSmtpServer Server)> Deliver(Func<ScriptedSession, Task> script, int timeoutRemote = 5, params string[] recipients)
    {
        var server = new ScriptedSmtpServer(Address, 0, script);
        var report = await Harness.DeliverAsync("[127.0.0.4]", "s@qremote.test", recipients.Length == 0 ? ["r@example.test"] : recipients,
            Message, new() { Config = Harness.Config(timeoutRemote: timeoutRemote), SmtpPort = server.EndPoint.Port });
        return (report, server);
    }

    private static async Task StandardAsync(ScriptedSession s, Func<string, string> reply)
    {
        await s.SendAsync("220 scripted ESMTP\r\n");
        string? line;
        while ((line = await s.ReadLineAsync()) is not null)
        {
            var answer = reply(line);
            if (answer == "DATA-BODY")
            {
                await s.SendAsync("354 go ahead\r\n");
                await s.ReadDataAsync();
                answer = reply(".");
            }

            await s.SendAsync(answer);
            if (line.StartsWith("QUIT", StringComparison.Ordinal))
            {
                return;
            }
        }
    }

    [Test]
    public async Task Greeting_that_never_comes_is_Z_connection_died_after_timeoutremote()
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var (report, server) = await Deliver(s => Task.Delay(Timeout.Infinite, s.Stop), timeoutRemote: 1);
        using (server)
        {
            Assert.That(report, Is.EqualTo("ZConnected to 127.0.0.4 but connection died. (#4.4.2)\n\\0"));
            Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)));
        }
    }

    [Test]
    public async Task Multi_line_replies_keep_every_line_with_its_code()
    {
        var (report, server) = await Deliver(s => StandardAsync(s, line => line switch
        {
            _ when line.StartsWith("EHLO", StringComparison.Ordinal) => "250-scripted\r\n250 PIPELINING\r\n",
            _ when line.StartsWith("MAIL", StringComparison.Ordinal) => "250 ok\r\n",
            _ when line.StartsWith("RCPT", StringComparison.Ordinal) => "550-5.1.1 first line\r\n550-5.1.1 second line\r\n550 5.1.1 last line\r\n",
            _ when line.StartsWith("QUIT", StringComparison.Ordinal) => "221 bye\r\n",
            _ => "250 ok\r\n",
        }));
        using (server)
        {
            Assert.That(report, Is.EqualTo(
                "h127.0.0.4 does not like recipient.\nRemote host said: 550-5.1.1 first line\n550-5.1.1 second line\n550 5.1.1 last line\n\\0" +
                "DGiving up on 127.0.0.4.\n\\0"));
        }
    }

    /// <summary>The local part is case-sensitive (RFC 5321 2.4), the domain is not: exact duplicates (domain case aside)
    /// share one RCPT and its answer; a local part that differs in case is another mailbox, with its own RCPT.</summary>
    [Test]
    public async Task Recipients_differing_in_the_case_of_the_local_part_each_get_their_own_rcpt()
    {
        var (report, server) = await Deliver(s => StandardAsync(s, line => line switch
        {
            _ when line.StartsWith("EHLO", StringComparison.Ordinal) => "250-scripted\r\n250 PIPELINING\r\n",
            _ when line.StartsWith("RCPT TO:<user@", StringComparison.Ordinal) => "550 5.1.1 no such user\r\n",
            "DATA" => "DATA-BODY",
            "." => "250 2.0.0 queued\r\n",
            _ when line.StartsWith("QUIT", StringComparison.Ordinal) => "221 bye\r\n",
            _ => "250 ok\r\n",
        }), 5, "User@Example.test", "user@example.test", "user@EXAMPLE.TEST", "User@example.test");
        using (server)
        {
            Assert.That(report, Is.EqualTo(
                "r\\0" +
                "h127.0.0.4 does not like recipient.\nRemote host said: 550 5.1.1 no such user\n\\0" +
                "h127.0.0.4 does not like recipient.\nRemote host said: 550 5.1.1 no such user\n\\0" +
                "r\\0" +
                "K127.0.0.4 accepted message.\nRemote host said: 250 2.0.0 queued\nTLS: none offered\n\\0"));
            var received = server.Sessions.Single().Received;
            Assert.That(received, Does.Contain("MAIL FROM:<s@qremote.test>\r\nRCPT TO:<User@Example.test>\r\nRCPT TO:<user@example.test>\r\nDATA\r\n"),
                "two RCPTs: one per mailbox, in the order first seen");
        }
    }

    [Test]
    public async Task Mixed_recipients_each_get_their_letter_and_the_message_goes()
    {
        var (report, server) = await Deliver(s => StandardAsync(s, line => line switch
        {
            _ when line.StartsWith("EHLO", StringComparison.Ordinal) => "250-scripted\r\n250 PIPELINING\r\n",
            _ when line.Contains("<bad@", StringComparison.Ordinal) => "550 5.1.1 no such user\r\n",
            _ when line.Contains("<later@", StringComparison.Ordinal) => "451 4.2.0 try later\r\n",
            _ when line.StartsWith("DATA", StringComparison.Ordinal) => "DATA-BODY",
            "." => "250 2.0.0 queued as 42\r\n",
            _ when line.StartsWith("QUIT", StringComparison.Ordinal) => "221 bye\r\n",
            _ => "250 ok\r\n",
        }), 5, "good@x.test", "bad@x.test", "later@x.test", "GOOD@x.test");
        using (server)
        {
            Assert.That(report, Is.EqualTo(
                "r\\0" +
                "h127.0.0.4 does not like recipient.\nRemote host said: 550 5.1.1 no such user\n\\0" +
                "s127.0.0.4 does not like recipient.\nRemote host said: 451 4.2.0 try later\n\\0" +
                "r\\0" +
                "K127.0.0.4 accepted message.\nRemote host said: 250 2.0.0 queued as 42\nTLS: none offered\n\\0"));
            Assert.That(server.Sessions.Single().Received, Does.Contain("RCPT TO:<good@x.test>\r\nRCPT TO:<bad@x.test>\r\nRCPT TO:<later@x.test>\r\n"));
        }
    }

    [Test]
    public async Task A_2xx_other_than_250_after_the_dot_is_delivered()
    {
        var (report, server) = await Deliver(s => StandardAsync(s, line => line switch
        {
            _ when line.StartsWith("DATA", StringComparison.Ordinal) => "DATA-BODY",
            "." => "251 2.0.0 forwarded\r\n",
            _ when line.StartsWith("QUIT", StringComparison.Ordinal) => "221 bye\r\n",
            _ => "250 ok\r\n",
        }));
        using (server)
        {
            Assert.That(report, Is.EqualTo("r\\0K127.0.0.4 accepted message.\nRemote host said: 251 2.0.0 forwarded\nTLS: none offered\n\\0"));
        }
    }

    [Test]
    public async Task Malformed_reply_code_is_never_success()
    {
        var (report, server) = await Deliver(s => StandardAsync(s, line => line switch
        {
            _ when line.StartsWith("DATA", StringComparison.Ordinal) => "DATA-BODY",
            "." => "2x0 looks like success\r\n",
            _ => "250 ok\r\n",
        }));
        using (server)
        {
            // MailKit refuses the code as a protocol error; the final dot was sent, so the message may have been taken.
            Assert.That(report, Is.EqualTo("r\\0ZConnected to 127.0.0.4 but connection died. Possible duplicate! (#4.4.2)\n\\0"));
        }
    }

    [Test]
    public async Task Reply_text_with_control_and_invalid_bytes_is_sanitized()
    {
        var (report, server) = await Deliver(async s =>
        {
            await s.SendAsync("220 scripted\r\n");
            await s.ReadLineAsync();
            await s.SendAsync("250 scripted\r\n");
            await s.ReadLineAsync();
            await s.SendBytesAsync([.. "550 bad\u0001bytes "u8, 0xff, 0xfe, (byte)'\r', (byte)'\n']);
            await s.ReadLineAsync();
        });
        using (server)
        {
            Assert.That(report, Is.EqualTo("DConnected to 127.0.0.4 but sender was rejected.\nRemote host said: 550 bad?bytes ??\n\\0"));
        }
    }

    [Test]
    public async Task A_1_MB_reply_line_gives_up_the_connection_with_bounded_memory()
    {
        var (report, server) = await Deliver(async s =>
        {
            await s.SendAsync("220 scripted\r\n");
            await s.ReadLineAsync();
            await s.SendAsync("250-" + new string('x', 1 << 20) + "\r\n250 ok\r\n");
            await s.ReadLineAsync();
        });
        using (server)
        {
            Assert.That(report, Is.EqualTo("ZConnected to 127.0.0.4 but connection died. (#4.4.2)\n\\0"));
        }
    }

    [Test]
    public async Task Endless_continuation_lines_give_up_the_connection()
    {
        var (report, server) = await Deliver(async s =>
        {
            await s.SendAsync("220 scripted\r\n");
            await s.ReadLineAsync();
            var line = System.Text.Encoding.ASCII.GetBytes("250-still going\r\n");
            for (var i = 0; i < 200_000; i++)
            {
                await s.SendBytesAsync(line);
            }
        });
        using (server)
        {
            Assert.That(report, Is.EqualTo("ZConnected to 127.0.0.4 but connection died. (#4.4.2)\n\\0"));
        }
    }

    [Test]
    public async Task A_reply_dripping_one_byte_a_second_is_bounded_by_timeoutremote_as_a_whole()
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var (report, server) = await Deliver(async s =>
        {
            await s.SendAsync("220 scripted\r\n");
            await s.ReadLineAsync();
            foreach (var c in "250-a reply that never ends, one byte at a time\r\n")
            {
                await s.SendAsync(c.ToString());
                await Task.Delay(400, s.Stop);
            }
        }, timeoutRemote: 2);
        using (server)
        {
            // Every single read comes within timeoutremote (MailKit's own timeout never fires); the
            // whole reply does not.
            Assert.That(report, Is.EqualTo("ZConnected to 127.0.0.4 but connection died. (#4.4.2)\n\\0"));
            Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(8)));
        }
    }

    [TestCase("99 short\r\n")]
    [TestCase("2500 too long\r\n")]
    [TestCase("2xx letters\r\n")]
    [TestCase("\r\n")]
    public async Task A_malformed_greeting_is_never_success(string greeting)
    {
        var (report, server) = await Deliver(async s =>
        {
            await s.SendAsync(greeting);
            await s.ReadLineAsync();
            await s.SendAsync("250 ok\r\n");
            await s.ReadLineAsync();
        });
        using (server)
        {
            // MailKit refuses the reply as a protocol error before any transaction: a broken connection.
            Assert.That(report, Is.EqualTo("ZConnected to 127.0.0.4 but connection died. (#4.4.2)\n\\0"));
        }
    }

    [Test]
    public async Task A_reset_instead_of_a_greeting_is_Z_connection_died()
    {
        var (report, server) = await Deliver(async s =>
        {
            // A reset that overtakes the client's own connect completion makes the connect fail instead (the kernel
            // reports ECONNRESET for it): a different deferral, "no connection". Give the connect time to complete.
            await Task.Delay(100);
            s.Reset();
        });
        using (server)
        {
            Assert.That(report, Is.EqualTo("ZConnected to 127.0.0.4 but connection died. (#4.4.2)\n\\0"));
        }
    }

    [Test]
    public async Task Dropped_between_rcpts_is_Z_with_no_recipient_reports()
    {
        var (report, server) = await Deliver(async s =>
        {
            await s.SendAsync("220 scripted\r\n");
            await s.ReadLineAsync();
            await s.SendAsync("250 scripted\r\n"); // no PIPELINING: one RCPT at a time
            await s.ReadLineAsync();
            await s.SendAsync("250 sender ok\r\n");
            await s.ReadLineAsync();
            await s.SendAsync("250 first recipient ok\r\n");
            await s.ReadLineAsync(); // the second RCPT: the connection drops instead of answering
        }, 5, "a@example.test", "b@example.test");
        using (server)
        {
            Assert.That(report, Is.EqualTo("ZConnected to 127.0.0.4 but connection died. (#4.4.2)\n\\0"));
        }
    }

    [Test]
    public async Task Dropped_in_the_middle_of_the_data_is_Z_without_the_duplicate_warning()
    {
        // 32 MB: more than the kernel's socket buffers hold, so the body is still being written when the
        // server goes. (With a small message every byte and the final dot are already in the kernel when the
        // reset arrives, and "Possible duplicate!" is then the honest report.)
        var big = "Subject: big\n\n" + string.Concat(Enumerable.Repeat(new string('x', 999) + "\n", 32_000));
        var server = new ScriptedSmtpServer(IPAddress.Parse("127.0.0.4"), 0, async s =>
        {
            await s.SendAsync("220 scripted\r\n");
            await s.ReadLineAsync();
            await s.SendAsync("250 scripted\r\n");
            await s.ReadLineAsync();
            await s.SendAsync("250 ok\r\n");
            await s.ReadLineAsync();
            await s.SendAsync("250 ok\r\n");
            await s.ReadLineAsync();
            await s.SendAsync("354 go\r\n");
            for (var i = 0; i < 10; i++)
            {
                await s.ReadLineAsync();
            }

            s.Reset(); // gone after ten lines of thirty-two thousand
        });
        using (server)
        {
            var report = await Harness.DeliverAsync("[127.0.0.4]", "s@qremote.test", ["r@example.test"], big, new() { Config = Harness.Config(), SmtpPort = server.EndPoint.Port });
            Assert.That(report, Is.EqualTo("r\\0ZConnected to 127.0.0.4 but connection died. (#4.4.2)\n\\0"));
        }
    }

    [Test]
    public async Task Qmail_quoting_reaches_the_wire()
    {
        var (report, server) = await Deliver(s => StandardAsync(s, line => line switch
        {
            _ when line.StartsWith("DATA", StringComparison.Ordinal) => "DATA-BODY",
            "." => "250 ok\r\n",
            _ => "250 ok\r\n",
        }), 5, "a..b@x.test", "sp ace@x.test");
        using (server)
        {
            Assert.That(report, Does.StartWith("r\\0r\\0K"));
            Assert.That(server.Sessions.Single().Received, Does.Contain("RCPT TO:<\"a..b\"@x.test>\r\n").And.Contain("RCPT TO:<\"sp ace\"@x.test>\r\n"));
        }
    }

    [Test]
    public async Task Recipient_with_crlf_never_reaches_the_wire()
    {
        var (report, server) = await Deliver(s => StandardAsync(s, line => line switch
        {
            _ when line.StartsWith("DATA", StringComparison.Ordinal) => "DATA-BODY",
            _ => "250 ok\r\n",
        }), 5, "ok@x.test", "evil@x.test>\r\nRSET\r\nMAIL FROM:<a@b");
        using (server)
        {
            Assert.That(report, Is.EqualTo(
                "r\\0hSorry, this recipient address contains a character SMTP cannot carry (CR, LF or NUL). (#5.1.3)\n\\0" +
                "K127.0.0.4 accepted message.\nRemote host said: 250 ok\nTLS: none offered\n\\0"));
            Assert.That(server.Sessions.Single().Received, Does.Not.Contain("RSET"));
        }
    }
}
