using System.Text;
using CsCheck;
using QRemote.Message;

namespace QRemote.Tests.Properties;

/// <summary>Message bytes to the wire: see <see cref="WireInvariants"/> for what must hold.</summary>
public sealed class WireEncoderProperties
{
    [Test]
    public void Any_bytes_in_any_chunking_give_crlf_lines_stuffed_and_reversible() =>
        HostileGen.WireInputs.Sample(WireInvariants.Check, iter: 5000, print: w => w.ToString());

    [Test]
    public void Every_small_input_over_the_awkward_alphabet()
    {
        // Exhaustive: every string of up to 7 bytes over { '.', CR, LF, 'a' }, in every chunk size up to 3.
        byte[] alphabet = [(byte)'.', (byte)'\r', (byte)'\n', (byte)'a'];
        for (var length = 0; length <= 7; length++)
        {
            var count = 1 << (2 * length);
            for (var n = 0; n < count; n++)
            {
                var bytes = new byte[length];
                for (var i = 0; i < length; i++)
                {
                    bytes[i] = alphabet[(n >> (2 * i)) & 3];
                }

                for (var chunk = 1; chunk <= 3; chunk++)
                {
                    WireInvariants.Check(new WireInput(bytes, [chunk], DotStuff: true));
                    WireInvariants.Check(new WireInput(bytes, [chunk], DotStuff: false));
                }
            }
        }
    }

    [Test]
    public void Smuggling_shapes_are_neutralised()
    {
        foreach (var input in new[] { "a\r.\r\nb\n", "a\n.\rb\n", "a\r\n.\n", ".", "\r.\r", "x\n.\r\n.\n" })
        {
            var output = Encoding.Latin1.GetString(WireEncoder.EncodeAll(Encoding.Latin1.GetBytes(input), dotStuff: true));
            Assert.That(("\r\n" + output).Contains("\r\n.\r\n", StringComparison.Ordinal), Is.False, ReportInput.Quote(output));
        }
    }
}
