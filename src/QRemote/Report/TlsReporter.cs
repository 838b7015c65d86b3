using System.Globalization;
using QRemote.Dns;
using QRemote.Qmail;
using QRemote.Tls;

namespace QRemote.Report;

/// <summary>
/// <c>qremote --tls-report</c> (docs/tls-reporting.md): rotates the spool, reads every rotated file, counts the results
/// per policy domain and UTC day (completed days only, unless <see cref="TlsReporterOptions.Day"/>), and sends each
/// day's report not sent yet to the destinations of the domain's TLSRPT record: <c>mailto:</c> through qmail-inject,
/// <c>https:</c> by POST. A rotated file is deleted once every day in it is done. Exit 0 when nothing is left to retry, 1 when
/// something is (a cron job's mail says so), 2 when it could not run at all.
/// </summary>
internal static class TlsReporter
{
    public const string OrganizationFile = "qremote-tlsrpt-org";
    public const string ContactFile = "qremote-tlsrpt-contact";

    public static async Task<int> RunAsync(TlsReporterOptions options, CancellationToken cancellationToken)
    {
        var output = options.Output;
        var control = new ControlFiles(Path.Combine(options.QmailHome, "control"));
        var target = TlsReportTarget.Load(options.QmailHome);
        if (target is null)
        {
            output.WriteLine($"control/{TlsReportTarget.ControlFile} names no spool: TLS results are not recorded, no report to send");
            return 0;
        }

        if (target.Datagram)
        {
            output.WriteLine($"TLS results go to tlsrpt-collectd at {target.Path}: its tlsrpt-reportd sends the reports");
            return 0;
        }

        string me, organization, contact;
        try
        {
            me = control.ReadLine("me") ?? throw new ControlFileException(Path.Combine(control.Directory, "me"), new FileNotFoundException("no control/me"));
            organization = control.ReadLine(OrganizationFile) ?? me;
            contact = control.ReadLine(ContactFile) ?? "postmaster@" + me;
        }
        catch (ControlFileException e)
        {
            output.WriteLine($"control files: {e.Message}");
            return 2;
        }

        var spool = new TlsReportSpool(target.Path);
        using var held = options.DryRun ? null : spool.TryLock();
        if (!options.DryRun && held is null)
        {
            output.WriteLine($"{spool.LockPath}: another --tls-report run holds it (or it cannot be opened): nothing done");
            return 2;
        }

        if (!options.DryRun && spool.Rotate() is { } rotated)
        {
            output.WriteLine($"spool rotated to {rotated}");
        }

        var files = spool.Rotated().Select(r => r.File).ToList();
        if (options.DryRun)
        {
            files.Add(spool.Path);
        }

        var days = new Dictionary<(string Domain, DateOnly Day), TlsReportAggregate>();
        var fileDays = new Dictionary<string, HashSet<(string, DateOnly)>>(StringComparer.Ordinal);
        foreach (var file in files)
        {
            if (TlsReportSpool.Read(file) is not var (entries, junk))
            {
                if (File.Exists(file) || new FileInfo(file).LinkTarget is not null)
                {
                    output.WriteLine($"{file}: not a lone regular file: not read");
                }

                continue;
            }

            if (junk > 0)
            {
                output.WriteLine($"{file}: {junk} line{(junk == 1 ? "" : "s")} not a TLS result: skipped");
            }

            var inFile = fileDays[file] = [];
            foreach (var entry in entries)
            {
                var key = (entry.PolicyDomain, DateOnly.FromDateTime(entry.Time.UtcDateTime));
                inFile.Add(key);
                if (!days.TryGetValue(key, out var aggregate))
                {
                    days[key] = aggregate = new TlsReportAggregate(key.PolicyDomain, key.Item2);
                }

                aggregate.Add(entry);
            }
        }

        var now = options.Time.GetUtcNow();
        var today = DateOnly.FromDateTime(now.UtcDateTime);
        var state = TlsReportState.Load(spool.StatePath);
        var dns = new DnsLookup(options.Resolver);
        var https = new MtaStsOptions(null, [], FetchTimeout: options.HttpsTimeout) { RootsOnDemand = options.Roots };
        var qmailInject = Path.Combine(options.QmailHome, "bin", "qmail-inject");
        var retry = false;
        foreach (var ((domain, day), aggregate) in days.OrderBy(d => d.Key.Day).ThenBy(d => d.Key.Domain, StringComparer.Ordinal))
        {
            var name = $"{domain} {day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)}";
            if (options.Day is { } only ? day != only : day >= today)
            {
                continue;
            }

            if (state.Done(day, domain))
            {
                output.WriteLine($"{name}: sent already");
                continue;
            }

            if (!options.DryRun && day.AddDays(options.RetryDays) < today)
            {
                output.WriteLine($"{name}: not sent in {options.RetryDays} days: given up");
                state.MarkDone(day, domain, today);
                continue;
            }

            var sessions = aggregate.Successes + aggregate.Failures;
            output.WriteLine($"{name}: {sessions} session{(sessions == 1 ? "" : "s")}, {aggregate.Failures} failed, {aggregate.PolicyCount} polic{(aggregate.PolicyCount == 1 ? "y" : "ies")}");
            var (record, problem, temporary) = await TlsReportDnsRecord.LookupAsync(dns, domain, cancellationToken).ConfigureAwait(false);
            if (record is null)
            {
                output.WriteLine($"{name}: {problem}: {(temporary ? "tried again next run" : "nothing to send")}");
                if (temporary)
                {
                    retry = true;
                }
                else if (!options.DryRun)
                {
                    state.MarkDone(day, domain, today);
                }

                continue;
            }

            foreach (var ignored in record.Ignored)
            {
                output.WriteLine($"{name}: rua {ReportText.Sanitize(ignored)}: ignored");
            }

            var reportId = $"{day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)}.{domain}@{me}";
            var message = new TlsReportMessage(domain, me, reportId, aggregate.Start, aggregate.ToJson(organization, contact, reportId), sessions, aggregate.Failures);
            if (options.DryRun)
            {
                output.WriteLine(System.Text.Encoding.UTF8.GetString(message.Json));
            }

            var allDone = true;
            foreach (var destination in record.Rua)
            {
                if (state.Sent(day, domain, destination))
                {
                    continue;
                }

                if (options.DryRun)
                {
                    output.WriteLine($"{name}: would send to {destination.OriginalString}");
                    continue;
                }

                var sent = destination.Scheme == Uri.UriSchemeMailto
                    ? await TlsReportInject.QueueAsync(qmailInject, contact, TlsReportDnsRecord.MailtoAddress(destination)!,
                        message.ToMail(contact, TlsReportDnsRecord.MailtoAddress(destination)!, now), cancellationToken).ConfigureAwait(false)
                    : await TlsReportHttps.PostAsync(dns, https, options.Time, destination, message.Gzip, cancellationToken).ConfigureAwait(false);
                output.WriteLine($"{name}: {destination.OriginalString}: {ReportText.Sanitize(sent.Detail)}");
                if (sent.Status == TlsReportSendStatus.Temporary)
                {
                    allDone = false;
                    retry = true;
                }
                else
                {
                    state.MarkSent(day, domain, destination, today);
                }
            }

            if (allDone && !options.DryRun)
            {
                state.MarkDone(day, domain, today);
            }
        }

        if (!options.DryRun)
        {
            foreach (var (file, inFile) in fileDays)
            {
                if (inFile.All(k => state.Done(k.Item2, k.Item1)))
                {
                    File.Delete(file);
                    output.WriteLine($"{file}: every day in it is done: removed");
                }
            }
        }

        return retry ? 1 : 0;
    }
}
