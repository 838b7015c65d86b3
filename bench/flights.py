#!/usr/bin/env python3
"""Counts the round trips of one delivery from bench/wire.py's packet log (no tcpdump needed).

    flights.py LOG RTT_MS LABEL

A flight is a burst of packets the client sends (direction >) with no gap longer than a quarter
of the RTT inside it; each starts when a reply arrives, so the flights before the one that
carries QUIT are the round trips the delivery waited for (QUIT is never awaited). Prints each
flight's time in RTTs and what it carried, then the count.
"""
import sys


def describe(summary):
    f = summary.split()
    if f[0].startswith("udp") and f[1] == "dns":
        return f"DNS {f[3]} {f[4]}" + (" (TC)" if f[-1] == "TC" else "")
    if f[0].startswith("tcp"):
        flags, size = f[2], int(f[3][:-1])
        text = " ".join(f[4:])
        if size > 200:
            return f"{text.split('|')[0][:24]}... ({size} bytes)"
        if size:
            return " | ".join(line[:30] for line in text.split("|") if line)
        if "S" in flags:
            return "SYN"
        if "R" in flags:
            return "RST"
        if "F" in flags:
            return "FIN"
        return "ACK"
    return summary


def main():
    path, rtt, label = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    sent = []
    for line in open(path):
        t, direction, summary = line.rstrip("\n").split(" ", 2)
        if direction == ">" and not summary.startswith("proto"):
            sent.append((float(t) * 1000, summary))
    flights = []
    for t, summary in sent:
        if flights and t - flights[-1][-1][0] <= rtt / 4:
            flights[-1].append((t, summary))
        else:
            flights.append([(t, summary)])
    # Bare ACKs before the delivery's first real packet belong to what came before it.
    while len(flights) > 1 and all(describe(s) == "ACK" for _, s in flights[0]):
        flights.pop(0)
    start = flights[0][0][0]
    waits = None
    data_flights = 0
    print(f"  {label}: the client's flights at {rtt:g} ms RTT")
    for i, flight in enumerate(flights):
        parts = []
        for _, s in flight:
            d = describe(s)
            if d == "ACK" and len(flight) > 1:
                continue
            if not parts or parts[-1] != d:
                parts.append(d)
        if parts != ["ACK"]:
            data_flights += 1
        at = (flight[0][0] - start) / rtt
        quit_ = any("QUIT" in s for _, s in flight)
        note = "  (not awaited)" if quit_ else ""
        print(f"    {i + 1:2}. t={at:4.2f} RTT  {', '.join(parts)}{note}")
        if quit_ and waits is None:
            waits = i
    if waits is None:
        # A connection kept for reuse (the daemon's) ends without QUIT: each flight that carried something waited
        # for an answer; the bare ACKs after the last answer did not.
        waits = data_flights
        print(f"  {label}: {waits} round trips (the connection is kept: no QUIT)")
    else:
        print(f"  {label}: {waits} round trips before QUIT")
    print(f"@flights\t{label}\t{rtt:g}\t{waits}")


if __name__ == "__main__":
    main()
