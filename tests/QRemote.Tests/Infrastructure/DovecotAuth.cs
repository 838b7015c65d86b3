namespace QRemote.Tests.Infrastructure;

/// <summary>
/// Dovecot's authentication service alone (no mail protocols), for Postfix's SASL (<c>smtpd_sasl_type =
/// dovecot</c>): a private instance with its own config, run and state directories under a temp
/// directory, users from a passwd-file made here, and an auth socket Postfix's smtpd can open. Runs in the
/// foreground under <see cref="ExternalProcess"/>; Dispose stops it and deletes the directory. (Cyrus SASL
/// was tried first: Debian's Postfix ignored <c>cyrus_sasl_config_path</c> and read /etc/sasldb2.)
/// </summary>
internal sealed class DovecotAuth : IDisposable
{
    public const string Program = "/usr/sbin/dovecot";
    private readonly ExternalProcess _process;

    private DovecotAuth(string directory, ExternalProcess process)
    {
        Directory = directory;
        _process = process;
    }

    public string Directory { get; }

    /// <summary>The socket for Postfix's <c>smtpd_sasl_path</c>.</summary>
    public string Socket => Path.Combine(Directory, "run", "auth-postfix");

    public string Log => File.Exists(Path.Combine(Directory, "dovecot.log")) ? File.ReadAllText(Path.Combine(Directory, "dovecot.log")) : "";

    /// <summary>Postfix parameters that authenticate through this instance.</summary>
    public (string, string)[] PostfixParameters =>
        [("smtpd_sasl_auth_enable", "yes"), ("smtpd_sasl_type", "dovecot"), ("smtpd_sasl_path", Socket)];

    /// <param name="mechanisms">Dovecot's <c>auth_mechanisms</c>: what Postfix offers in EHLO's AUTH. SCRAM-SHA-1 and
    /// SCRAM-SHA-256 work from the plaintext passwords kept here.</param>
    public static DovecotAuth Start(IReadOnlyDictionary<string, string> users, string mechanisms = "plain login")
    {
        if (!File.Exists(Program))
        {
            Assert.Fail($"{Program} is missing: install Debian's dovecot-core (.ci/run does)");
        }

        var dir = System.IO.Directory.CreateTempSubdirectory("qremote-dovecot-").FullName;
        File.SetUnixFileMode(dir, (UnixFileMode)0b111_101_101);
        File.WriteAllText(Path.Combine(dir, "passwd"), string.Concat(users.Select(u => $"{u.Key}:{{PLAIN}}{u.Value}\n")));
        var conf = Path.Combine(dir, "dovecot.conf");
        File.WriteAllText(conf, $$"""
            base_dir = {{dir}}/run
            state_dir = {{dir}}/state
            log_path = {{dir}}/dovecot.log
            protocols = none
            ssl = no
            auth_mechanisms = {{mechanisms}}
            passdb {
              driver = passwd-file
              args = scheme=PLAIN username_format=%u {{dir}}/passwd
            }
            userdb {
              driver = static
              args = uid=65534 gid=65534 home=/nonexistent
            }
            service auth {
              unix_listener auth-postfix {
                mode = 0666
              }
            }

            """);
        var process = ExternalProcess.Start(Program, ["-F", "-c", conf], dir);
        var auth = new DovecotAuth(dir, process);
        try
        {
            WaitFor.Condition(() => File.Exists(auth.Socket) || process.HasExited, "dovecot's auth socket", 10000);
            if (process.HasExited)
            {
                throw new InvalidOperationException($"dovecot exited: {process.Output}\n{auth.Log}");
            }
        }
        catch
        {
            auth.Dispose();
            throw;
        }

        return auth;
    }

    public void Dispose()
    {
        _process.Dispose();
        for (var i = 0; i < 50 && System.IO.Directory.Exists(Directory); i++)
        {
            try
            {
                System.IO.Directory.Delete(Directory, recursive: true);
            }
            catch (IOException)
            {
                Thread.Sleep(100);
            }
        }
    }
}
