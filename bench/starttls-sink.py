#!/usr/bin/env python3
"""A minimal SMTP sink that offers STARTTLS (bench/process.py's TLS peer): accepts everything, keeps nothing.
Usage: starttls-sink.py ADDRESS PORT CERT KEY"""
import socket, socketserver, ssl, sys

address, port, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        conn = self.connection
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        f = conn.makefile("rwb", buffering=0)
        f.write(b"220 bench ESMTP\r\n")
        while True:
            line = f.readline()
            if not line:
                return
            cmd = line.strip().upper()
            if cmd.startswith(b"EHLO"):
                tls = isinstance(conn, ssl.SSLSocket)
                f.write(b"250-bench\r\n" + (b"" if tls else b"250-STARTTLS\r\n") + b"250 PIPELINING\r\n")
            elif cmd == b"STARTTLS":
                f.write(b"220 go ahead\r\n")
                conn = ctx.wrap_socket(conn, server_side=True)
                f = conn.makefile("rwb", buffering=0)
            elif cmd == b"DATA":
                f.write(b"354 go ahead\r\n")
                while f.readline() not in (b".\r\n", b""):
                    pass
                f.write(b"250 2.0.0 Ok\r\n")
            elif cmd == b"QUIT":
                f.write(b"221 bye\r\n")
                return
            else:
                f.write(b"250 2.0.0 Ok\r\n")


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


Server((address, port), Handler).serve_forever()
