#!/usr/bin/env bash
# STARTTLS against plain: whole-process wall time of one 1 KB delivery to a small STARTTLS-capable
# SMTP server on loopback (Python's ssl module, a certificate made here with openssl), with and
# without STARTTLS offered. Median of N runs (default 21). Usage: bench/tls-delivery.sh [runs]
set -euo pipefail
runs=${1:-21}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${QREMOTE_BINARY:-$root/artifacts/publish/qremote}
[ -x "$bin" ] || { echo "publish first: dotnet cake --target=Publish" >&2; exit 1; }
work=$(mktemp -d -t qremote-tls-XXXXXX); chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" -subj /CN=bench.test -days 2 2>/dev/null
mkdir -p "$work/qmail/control"; echo bench.test > "$work/qmail/control/me"
{ printf 'Subject: tls bench\n\n'; for _ in $(seq 14); do printf '%s\n' "$(head -c 64 /dev/zero | tr '\0' x)"; done; } > "$work/msg"
python3 - "$bin" "$work" "$runs" <<'PY'
import socket, socketserver, ssl, statistics, subprocess, sys, threading, time
binary, work, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(f"{work}/cert.pem", f"{work}/key.pem")
class Handler(socketserver.StreamRequestHandler):
    offer = True
    def handle(self):
        conn = self.connection
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle delay on small replies
        f = conn.makefile("rwb", buffering=0)
        f.write(b"220 bench\r\n")
        while True:
            line = f.readline()
            if not line: return
            cmd = line.strip().upper()
            if cmd.startswith(b"EHLO"):
                f.write(b"250-bench\r\n" + (b"250-STARTTLS\r\n" if self.offer and not isinstance(conn, ssl.SSLSocket) else b"") + b"250 PIPELINING\r\n")
            elif cmd == b"STARTTLS":
                f.write(b"220 go\r\n")
                conn = ctx.wrap_socket(conn, server_side=True)
                f = conn.makefile("rwb", buffering=0)
            elif cmd == b"DATA":
                f.write(b"354 go\r\n")
                while f.readline() not in (b".\r\n", b""): pass
                f.write(b"250 ok\r\n")
            elif cmd == b"QUIT": return
            else: f.write(b"250 ok\r\n")
class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
for offer in (False, True):
    Handler.offer = offer
    srv = Server(("127.0.0.2", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    port = srv.server_address[1]
    times = []
    for _ in range(runs):
        with open(f"{work}/msg", "rb") as m:
            t = time.perf_counter()
            out = subprocess.run([binary, f"--qmail-home={work}/qmail", f"--smtp-port={port}", "[127.0.0.2]", "a@bench.test", "b@example.org"],
                                 stdin=m, capture_output=True).stdout
            times.append((time.perf_counter() - t) * 1000)
        assert b"K127.0.0.2" in out, out
    srv.shutdown(); srv.server_close()
    print(f"{'STARTTLS' if offer else 'plain':9} median {statistics.median(times):6.1f} ms  min {min(times):6.1f}  max {max(times):6.1f}  (n={runs})")
PY
