using System.Text;
using QRemote.Message;

namespace QRemote.Tests.Message;

public sealed class WireEncoderTests
{
    private static string Encode(string input, bool dotStuff, int chunk = int.MaxValue)
    {
        var bytes = Encoding.Latin1.GetBytes(input);
        var encoder = new WireEncoder(dotStuff);
        var output = new MemoryStream();
        for (var i = 0; i < bytes.Length; i += chunk)
        {
            var part = bytes.AsSpan(i, Math.Min(chunk, bytes.Length - i));
            var buffer = new byte[WireEncoder.MaxOutputLength(part.Length)];
            output.Write(buffer, 0, encoder.Encode(part, buffer));
        }

        return Encoding.Latin1.GetString(output.ToArray());
    }

    [TestCase("a\nb\n", "a\r\nb\r\n")]
    [TestCase("a\r\nb\n", "a\r\nb\r\n")]
    [TestCase("a\rb\n", "a\r\nb\r\n")]
    [TestCase("x\r.\n", "x\r\n..\r\n")]
    [TestCase(".\n", "..\r\n")]
    [TestCase("..x\n", "...x\r\n")]
    [TestCase("a.b\n.c\n", "a.b\r\n..c\r\n")]
    [TestCase("\n\n", "\r\n\r\n")]
    [TestCase("a\r\r\nb\n", "a\r\n\r\nb\r\n")]
    [TestCase("", "")]
    public void Converts_line_endings_and_stuffs_dots(string input, string expected)
    {
        for (var chunk = 1; chunk <= 4; chunk++)
        {
            Assert.That(Encode(input, dotStuff: true, chunk), Is.EqualTo(expected), $"chunk {chunk}");
        }

        Assert.That(Encode(input, dotStuff: true), Is.EqualTo(expected));
    }

    [Test]
    public void Without_dot_stuffing_dots_stay_single()
    {
        Assert.That(Encode(".\n.x\r\n", dotStuff: false, chunk: 1), Is.EqualTo(".\r\n.x\r\n"));
    }
}
