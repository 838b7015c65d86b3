using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Win32.SafeHandles;
using QRemote.Posix;

namespace QRemote.Tls;

/// <summary>
/// The policy cache: one file per policy domain, named by the domain in lower case, holding the id the policy was
/// fetched under, when, and the policy body as received (docs/mta-sts.md has the layout). qmail runs one
/// qmail-remote per delivery, so the cache lives in files, not memory; many deliveries may write the same file at
/// once, so each write goes to a temporary file renamed over the old one, and a reader sees one whole version.
/// The directory is qmailr's, and qremote may be run by hand as root: a link planted there is never followed.
/// Files are read with <c>O_NOFOLLOW</c> (and only as regular files with one name) and written only as new
/// files renamed into place, so a write never goes into an inode that was already there.
/// Nothing here ever fails a delivery: a missing, unreadable or unwritable file is just no cache.
/// </summary>
internal sealed class MtaStsCache(string? directory)
{
    /// <summary>The first line of every cache file; another first line means the file is not ours or is older.</summary>
    public const string Magic = "qremote-mta-sts-cache 1";

    /// <summary>A cache file is a body (at most <see cref="MtaStsOptions.MaxBodyBytes"/>) and a short header.</summary>
    private const int MaxFileBytes = MtaStsOptions.MaxBodyBytes + 1024;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public string? Directory => directory;

    /// <summary>The cached policy of <paramref name="domain"/> (lower case, validated), fresh or not; null when there
    /// is none or the file cannot be read or is not one we wrote.</summary>
    public MtaStsPolicy? Load(string domain)
    {
        if (directory is null)
        {
            return null;
        }

        string text;
        try
        {
            if (ReadNoFollow(Path.Combine(directory, domain), MaxFileBytes) is not { } bytes)
            {
                return null;
            }

            text = StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            return null;
        }

        // The header: the magic line, then "key: value" lines, then an empty line; the body follows unchanged.
        var end = text.IndexOf("\n\n", StringComparison.Ordinal);
        if (end < 0)
        {
            return null;
        }

        var header = text[..end].Split('\n');
        if (header[0] != Magic)
        {
            return null;
        }

        string? name = null, id = null, fetched = null;
        foreach (var line in header.Skip(1))
        {
            var colon = line.IndexOf(": ", StringComparison.Ordinal);
            if (colon <= 0)
            {
                return null;
            }

            var value = line[(colon + 2)..];
            switch (line[..colon])
            {
                case "domain":
                    name = value;
                    break;
                case "id":
                    id = value;
                    break;
                case "fetched":
                    fetched = value;
                    break;
                default:
                    break;
            }
        }

        if (name != domain || id is null || fetched is null
            || !DateTimeOffset.TryParseExact(fetched, "yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var when))
        {
            return null;
        }

        return MtaStsPolicy.Parse(text[(end + 2)..], id, when, out _);
    }

    /// <summary>The policy domains with a file here (at most <paramref name="max"/>): names that are policy domains as
    /// <see cref="MtaStsResolver.TryPolicyDomain"/> makes them, so never a temporary file, a failure marker or junk.</summary>
    public IReadOnlyList<string> Domains(int max)
    {
        if (directory is null)
        {
            return [];
        }

        try
        {
            return System.IO.Directory.EnumerateFiles(directory)
                .Select(Path.GetFileName)
                .Where(n => n is not null && MtaStsResolver.TryPolicyDomain(n, out var name) && name == n)
                .Take(max)
                .ToList()!;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    /// <summary>Keeps a freshly fetched policy body.</summary>
    /// <returns>Null when it was written (or there is no cache directory); otherwise why not, for the log.</returns>
    public string? Store(string domain, string id, DateTimeOffset fetched, string body)
    {
        if (directory is null)
        {
            return null;
        }

        if (!System.IO.Directory.Exists(directory))
        {
            return $"cache directory {directory} does not exist";
        }

        var content = $"{Magic}\ndomain: {domain}\nid: {id}\nfetched: {fetched.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture)}\n\n{body}";
        var path = Path.Combine(directory, domain);
        // On disk before the rename, so a crash cannot leave an empty file under the real name.
        return WriteByRename(directory, domain, path, StrictUtf8.GetBytes(content), flushToDisk: true) is { } why
            ? $"cannot write {path}: {why}"
            : null;
    }

    /// <summary>RFC 8461 3.3 asks senders not to hammer a policy host: a failed fetch of one id is not tried again for this long.</summary>
    public static readonly TimeSpan RetryAfterFailure = TimeSpan.FromMinutes(5);

    private string? FailurePath(string domain) => directory is null ? null : Path.Combine(directory, ".failed-" + domain);

    /// <summary>When a fetch of <paramref name="id"/> last failed, if within <see cref="RetryAfterFailure"/> of <paramref name="now"/>.</summary>
    public DateTimeOffset? RecentFailure(string domain, string id, DateTimeOffset now)
    {
        if (FailurePath(domain) is not { } path)
        {
            return null;
        }

        try
        {
            if (ReadNoFollow(path, 1024) is not { } bytes)
            {
                return null;
            }

            var lines = StrictUtf8.GetString(bytes).Split('\n');
            if (lines.Length == 3 && lines[2].Length == 0 && lines[0] == id && long.TryParse(lines[1], NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
            {
                var when = DateTimeOffset.FromUnixTimeSeconds(seconds);
                return now - when < RetryAfterFailure && when <= now ? when : null;
            }
        }
        catch (DecoderFallbackException)
        {
        }

        return null;
    }

    /// <summary>Remembers a failed fetch (best effort: a cache that cannot be written only means trying again).</summary>
    public void RememberFailure(string domain, string id, DateTimeOffset when)
    {
        if (FailurePath(domain) is not { } path || !System.IO.Directory.Exists(directory))
        {
            return;
        }

        // Renamed into place like a policy: written in place, a link planted at the marker's name would be followed.
        _ = WriteByRename(directory!, ".failed-" + domain, path, StrictUtf8.GetBytes($"{id}\n{when.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture)}\n"), flushToDisk: false);
    }

    /// <summary>Forgets a failure once a fetch has worked.</summary>
    public void ForgetFailure(string domain)
    {
        if (FailurePath(domain) is { } path)
        {
            try
            {
                File.Delete(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
    }

    /// <summary>
    /// Writes <paramref name="bytes"/> to a new hidden file in <paramref name="dir"/> (created with O_EXCL, which never
    /// follows a link) and renames it over <paramref name="path"/> (which replaces a link there, never its target).
    /// Returns null when done, else why not.
    /// </summary>
    private static string? WriteByRename(string dir, string name, string path, byte[] bytes, bool flushToDisk)
    {
        // Hidden (a domain never starts with a dot) and unique to this process and call.
        var temporary = Path.Combine(dir, $".{name}.{Environment.ProcessId}.{RandomNumberGenerator.GetHexString(8, lowercase: true)}");
        try
        {
            var options = new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                Share = FileShare.None,
                UnixCreateMode = Libc.FileMode0640,
            };
            using (var stream = new FileStream(temporary, options))
            {
                stream.Write(bytes);
                stream.Flush(flushToDisk);
            }

            File.Move(temporary, path, overwrite: true);
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try
            {
                File.Delete(temporary);
            }
            catch (Exception cleanup) when (cleanup is IOException or UnauthorizedAccessException)
            {
            }

            return e.Message;
        }
    }

    /// <summary>The file at <paramref name="path"/> if it is a regular file with one name, not a link, and at most
    /// <paramref name="maxBytes"/> long; else null.</summary>
    private static byte[]? ReadNoFollow(string path, int maxBytes)
    {
        var fd = Libc.OpenRegularNoFollow(path, Libc.ORdonly);
        if (fd < 0)
        {
            return null;
        }

        try
        {
            using var stream = new FileStream(new SafeFileHandle(fd, ownsHandle: true), FileAccess.Read, bufferSize: 0);
            var buffer = new byte[maxBytes + 1];
            var total = 0;
            int n;
            while (total < buffer.Length && (n = stream.Read(buffer, total, buffer.Length - total)) > 0)
            {
                total += n;
            }

            return total > maxBytes ? null : buffer[..total];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
