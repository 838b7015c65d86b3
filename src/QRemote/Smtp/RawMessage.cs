using System.Text;
using MimeKit;
using QRemote.Message;

namespace QRemote.Smtp;

/// <summary>
/// Builds the MimeMessage that MailKit sends: no headers of its own, no blank line, and a
/// <see cref="RawMessagePart"/> body. Only the experimental parser yields a message whose header
/// list has no body separator, so the message is parsed from a two-header stub; the two headers
/// are then hidden from output. The stub's transfer encoding is how MailKit decides
/// <c>BODY=8BITMIME</c>: 8bit when the message has bytes over 127, else 7bit.
/// </summary>
public static class RawMessage
{
    private static readonly ParserOptions Options = CreateParserOptions();

    /// <summary>Options for <c>SendAsync</c>: the stub's headers hidden, nothing else changed.</summary>
    public static FormatOptions FormatOptions { get; } = CreateFormatOptions();

    public static (MimeMessage Message, RawMessagePart Body) Create(MessageSource source)
    {
        ArgumentNullException.ThrowIfNull(source);
        var encoding = source.Facts.HasEightBit ? "8bit" : "7bit";
        var stub = Encoding.ASCII.GetBytes($"Content-Type: {RawMessagePart.MimeType}\r\nContent-Transfer-Encoding: {encoding}\r\n");
        using var stream = new MemoryStream(stub);
        var parser = new ExperimentalMimeParser(Options, stream, MimeFormat.Entity);
        var message = parser.ParseMessage();
        var body = message.Body as RawMessagePart
            ?? throw new InvalidOperationException("MimeKit did not build the raw body part");
        body.Source = source;
        return (message, body);
    }

    private static ParserOptions CreateParserOptions()
    {
        var options = new ParserOptions();
        options.RegisterMimeType(RawMessagePart.MimeType, typeof(RawMessagePart));
        return options;
    }

    private static FormatOptions CreateFormatOptions()
    {
        var options = MimeKit.FormatOptions.Default.Clone();
        options.NewLineFormat = NewLineFormat.Dos;
        options.HiddenHeaders.Add(HeaderId.ContentType);
        options.HiddenHeaders.Add(HeaderId.ContentTransferEncoding);
        options.HiddenHeaders.Add(HeaderId.MimeVersion);
        return options;
    }
}
