#!/usr/bin/env python3
"""A discarding SMTP server that offers CHUNKING (BDAT, RFC 3030) and PIPELINING, for bench/rtt.sh's
RTT_SINK=chunking runs: Postfix's smtp-sink offers no CHUNKING. Each command is answered as it is read,
in order, so pipelined commands get their replies in one burst; the message is read and dropped.

    chunk-sink.py ADDRESS PORT [ADDRESS PORT ...]
"""
import asyncio
import sys


async def session(reader, writer):
    w = writer.write
    w(b"220 chunk-sink ESMTP\r\n")
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            verb = line[:4].upper()
            if verb == b"EHLO":
                w(b"250-chunk-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-CHUNKING\r\n250 ENHANCEDSTATUSCODES\r\n")
            elif verb == b"DATA":
                w(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                await writer.drain()
                while (await reader.readline()) not in (b".\r\n", b""):
                    pass
                w(b"250 2.0.0 Ok: queued\r\n")
            elif verb == b"BDAT":
                words = line.split()
                await reader.readexactly(int(words[1]))
                last = len(words) > 2 and words[2].upper() == b"LAST"
                w(b"250 2.0.0 Ok: queued\r\n" if last else b"250 2.0.0 Ok: chunk received\r\n")
            elif verb == b"QUIT":
                w(b"221 2.0.0 Bye\r\n")
                break
            else:
                w(b"250 2.0.0 Ok\r\n")  # HELO, MAIL, RCPT, RSET, NOOP
            await writer.drain()
        await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def main(endpoints):
    servers = [await asyncio.start_server(session, host, int(port), backlog=256) for host, port in endpoints]
    print("ready", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(list(zip(args[::2], args[1::2]))))
