using System.Diagnostics.CodeAnalysis;
using MimeKit;
using QRemote.Message;

namespace QRemote.Smtp;

/// <summary>
/// The smallest piece of MimeKit we replace: a body part that writes the queued message's own
/// bytes (in wire form) instead of serialising a parsed MIME tree. MimeKit's own load-and-write
/// changes messages (it adds MIME-Version and blank lines, drops a leading <c>From </c> line,
/// re-encodes 8-bit parts, throws on header-less input); qmail-remote must change nothing.
/// It lives inside a message with no headers and no body separator (see <see cref="RawMessage"/>),
/// so MimeKit writes exactly these bytes and nothing around them.
/// </summary>
public sealed class RawMessagePart : MimePart
{
    public const string MimeType = "application/x-qremote-raw";

    [DynamicDependency(DynamicallyAccessedMemberTypes.PublicConstructors, typeof(RawMessagePart))]
    public RawMessagePart(MimeEntityConstructorArgs args)
        : base(args)
    {
    }

    /// <summary>Where the bytes come from; set once the message is built.</summary>
    public MessageSource? Source { get; set; }

    /// <summary>Raised when MailKit starts writing the body to the server (not when measuring).</summary>
    public event EventHandler? Writing;

    /// <summary>Raised when the whole body has been handed to the connection.</summary>
    public event EventHandler? Written;

    public override void Prepare(EncodingConstraint constraint, int maxLineLength = 78)
    {
        // Nothing to prepare: the bytes go out as they are.
    }

    /// <summary>QRemote is async only: MailKit's SendAsync writes through <see cref="WriteToAsync"/>.</summary>
    public override void WriteTo(FormatOptions options, Stream stream, bool contentOnly, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException("QRemote sends asynchronously only");

    public override async Task WriteToAsync(FormatOptions options, Stream stream, bool contentOnly, CancellationToken cancellationToken = default)
    {
        var source = Source ?? throw new InvalidOperationException("no message source");
        Writing?.Invoke(this, EventArgs.Empty);
        await source.WriteWireFormAsync(stream, dotStuff: false, cancellationToken).ConfigureAwait(false);
        Written?.Invoke(this, EventArgs.Empty);
    }
}
