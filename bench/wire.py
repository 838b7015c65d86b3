#!/usr/bin/env python3
"""A delay line between two network namespaces, for bench/rtt.sh.

The kernel here has no netem and no iptables, so the round trip is made in user space: each
namespace has a TUN device (made by rtt.sh with `ip tuntap`), routed to the other side. This
process attaches to both (it enters each namespace with setns(2) to open its device), reads every
IP packet that either kernel sends into its TUN, and writes it into the other TUN one-way-delay
later: a delay line, not a serialised sleep, so packets in flight overlap and keep their order.
Every packet is delayed: TCP SYN and SYN-ACK, data, ACKs, DNS over UDP.

    wire.py NS_A TUN_A NS_B TUN_B ONE_WAY_MS [LOGFILE]

With LOGFILE, one line per packet as it is read: seconds since start, direction (> from A to
B, < from B to A), and a summary (DNS question type, TCP flags, the first bytes of SMTP payload),
for counting flights (bench/flights.py). It prints "ready" on stdout once both devices are open
and stops on SIGTERM.
"""
import collections
import ctypes
import fcntl
import os
import select
import signal
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
CLONE_NEWNET = 0x40000000
libc = ctypes.CDLL(None, use_errno=True)


def open_tun(namespace, name):
    ns = os.open(f"/run/netns/{namespace}", os.O_RDONLY)
    try:
        if libc.setns(ns, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns {namespace}: {os.strerror(err)}")
    finally:
        os.close(ns)
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


QTYPES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 15: "MX", 16: "TXT", 28: "AAAA", 255: "ANY"}


def summary(p):
    """A one-line account of an IP packet (v4 or v6)."""
    if not p:
        return "empty"
    if p[0] >> 4 == 4:
        ihl = (p[0] & 15) * 4
        proto, body = p[9], p[ihl:]
        fam = "4"
    elif p[0] >> 4 == 6:
        proto, body = p[6], p[40:]
        fam = "6"
    else:
        return "?"
    if proto == 17 and len(body) >= 8:
        sport, dport = struct.unpack("!HH", body[:4])
        dns = body[8:]
        if 53 in (sport, dport) and len(dns) > 12:
            qr = "answer" if dns[2] & 0x80 else "query"
            i = 12
            labels = []
            while i < len(dns) and dns[i] != 0:
                labels.append(dns[i + 1:i + 1 + dns[i]].decode("ascii", "replace"))
                i += 1 + dns[i]
            qtype = struct.unpack("!H", dns[i + 1:i + 3])[0] if i + 3 <= len(dns) else 0
            tc = " TC" if dns[2] & 0x02 else ""
            return f"udp{fam} dns {qr} {QTYPES.get(qtype, qtype)} {'.'.join(labels)}{tc}"
        return f"udp{fam} {sport}>{dport} {len(body) - 8}B"
    if proto == 6 and len(body) >= 20:
        sport, dport = struct.unpack("!HH", body[:4])
        off = (body[12] >> 4) * 4
        flags = body[13]
        names = "".join(n for bit, n in ((2, "S"), (16, "A"), (8, "P"), (1, "F"), (4, "R")) if flags & bit)
        data = body[off:]
        text = data[:200].decode("ascii", "replace").replace("\r", "").replace("\n", "|") if data else ""
        return f"tcp{fam} {sport}>{dport} {names} {len(data)}B {text}".rstrip()
    return f"proto {proto}"


def main():
    ns_a, tun_a, ns_b, tun_b, one_way_ms = sys.argv[1:6]
    log = open(sys.argv[6], "w", buffering=1 << 16) if len(sys.argv) > 6 else None
    delay = float(one_way_ms) / 1000.0
    fa = open_tun(ns_a, tun_a)
    fb = open_tun(ns_b, tun_b)
    other = {fa: fb, fb: fa}
    mark = {fa: ">", fb: "<"}
    # Packets waiting, per device they go into: (due time, bytes), in arrival order. The delay is
    # the same for all, so each queue is already sorted by due time.
    pending = {fa: collections.deque(), fb: collections.deque()}
    running = True

    def stop(*_):
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    start = time.monotonic()
    print("ready", flush=True)
    while running:
        now = time.monotonic()
        for fd, queue in pending.items():
            while queue and queue[0][0] <= now:
                try:
                    os.write(fd, queue.popleft()[1])
                except OSError:
                    pass  # the kernel refused one packet (device going down): a lost packet
        heads = [q[0][0] for q in pending.values() if q]
        timeout = max(0.0, min(heads) - time.monotonic()) if heads else 0.5
        try:
            ready, _, _ = select.select([fa, fb], [], [], timeout)
        except InterruptedError:
            continue
        for fd in ready:
            while True:
                try:
                    packet = os.read(fd, 65536)
                except BlockingIOError:
                    break
                except OSError:
                    break
                now = time.monotonic()
                pending[other[fd]].append((now + delay, packet))
                if log:
                    log.write(f"{now - start:.6f} {mark[fd]} {summary(packet)}\n")
    if log:
        log.close()


if __name__ == "__main__":
    main()
