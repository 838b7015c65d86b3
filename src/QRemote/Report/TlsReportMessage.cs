using System.Globalization;
using System.IO.Compression;
using MimeKit;
using MimeKit.Utils;

namespace QRemote.Report;

/// <summary>
/// One report, ready to send (RFC 8460 section 5): the JSON gzip'd (5.3: <c>application/tlsrpt+gzip</c>, for mail and
/// HTTPS alike), its file name, and, for a <c>mailto:</c> destination, the message built with MimeKit:
/// <c>multipart/report; report-type="tlsrpt"</c> with a human-readable part and the report as an attachment, the
/// headers <c>TLS-Report-Domain</c>, <c>TLS-Report-Submitter</c> and <c>TLS-Required: No</c> (RFC 8689 5: a report
/// about TLS failures must be deliverable over the very failures it reports), and 5.3's Subject.
/// </summary>
internal sealed record TlsReportMessage(string Domain, string Submitter, string ReportId, DateTimeOffset Start, byte[] Json, long Sessions, long Failures)
{
    public const string MediaSubtype = "tlsrpt+gzip";

    public byte[] Gzip { get; } = Compress(Json);

    /// <summary>5.3: <c>submitter!policy-domain!begin-timestamp!end-timestamp.json.gz</c>, the times in seconds since the epoch.</summary>
    public string FileName =>
        string.Create(CultureInfo.InvariantCulture, $"{Submitter}!{Domain}!{Start.ToUnixTimeSeconds()}!{Start.AddDays(1).AddSeconds(-1).ToUnixTimeSeconds()}.json.gz");

    /// <summary>The message to <paramref name="to"/>, in qmail's form (LF line ends), for qmail-inject's standard input.</summary>
    public byte[] ToMail(string from, string to, DateTimeOffset now)
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse(from));
        message.To.Add(MailboxAddress.Parse(to));
        message.Subject = $"Report Domain: {Domain} Submitter: {Submitter} Report-ID: <{ReportId}>";
        message.Date = now;
        message.MessageId = MimeUtils.GenerateMessageId(Submitter);
        message.Headers.Add("TLS-Report-Domain", Domain);
        message.Headers.Add("TLS-Report-Submitter", Submitter);
        message.Headers.Add("TLS-Required", "No");
        var report = new MultipartReport("tlsrpt")
        {
            new TextPart("plain")
            {
                Text = $"This is an aggregate TLS report (RFC 8460) from {Submitter} for {Domain}, "
                    + $"{Start.UtcDateTime.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)} UTC: {Sessions} session{(Sessions == 1 ? "" : "s")}, "
                    + $"{Failures} of them failed.\nThe report itself is attached as {FileName}.\n",
            },
            new MimePart("application", MediaSubtype)
            {
                Content = new MimeContent(new MemoryStream(Gzip)),
                ContentDisposition = new ContentDisposition(ContentDisposition.Attachment) { FileName = FileName },
                ContentTransferEncoding = ContentEncoding.Base64,
            },
        };
        message.Body = report;
        using var buffer = new MemoryStream();
        message.WriteTo(new FormatOptions { NewLineFormat = NewLineFormat.Unix }, buffer);
        return buffer.ToArray();
    }

    private static byte[] Compress(byte[] json)
    {
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.Optimal, leaveOpen: true))
        {
            gzip.Write(json);
        }

        return buffer.ToArray();
    }
}
