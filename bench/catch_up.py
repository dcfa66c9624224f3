#!/usr/bin/env python3
"""Catch-up of N missed records by a restarted neighbour, over a real link.

    python3 bench/catch_up.py [HERD_BINARY] [RECORDS] [--json]

Starts two linked servers, A and B (storage on, `fsync = "never"`), on free loopback ports in
a temporary folder, waits for their link, stops B (SIGTERM), sends A one IAMAT for each of
RECORDS distinct clients (default 1,000,000), starts B again and waits until B's I/O log says
`link A: caught up` a second time. Prints the time from B's restart to that line, the time from
the link's `connected` line to it (both by B's log timestamps), and checks that B then knows
the first and the last client. Stops every server it started by its PID. With PERF=FILE,
`perf record` samples both servers from B's restart until it is caught up, into FILE.
"""
import datetime
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

from herd_procs import client_id, free_port, load, log_lines, start, stop

as_json = "--json" in sys.argv
args = [a for a in sys.argv[1:] if a != "--json"]
binary = args[0] if len(args) > 0 else "target/release/herd"
count = int(args[1]) if len(args) > 1 else 1_000_000


def stamp(line):
    """The timestamp an I/O log line starts with, in seconds."""
    text = line.split()[0].rstrip("Z")
    return datetime.datetime.fromisoformat(text).timestamp()


def wait_for(path, text, times, deadline_s):
    """Waits until the log at PATH has TIMES lines holding TEXT; returns them."""
    deadline = time.monotonic() + deadline_s
    while True:
        lines = log_lines(path, text)
        if len(lines) >= times:
            return lines
        if time.monotonic() > deadline:
            sys.exit(f"catch_up.py: no {times} lines '{text}' in {path} after {deadline_s} s")
        time.sleep(0.01)


def knows(port, client):
    """Whether the server answers WHATSAT about CLIENT (rather than `?`)."""
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(f"WHATSAT {client} 1 1\n".encode())
        conn.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := conn.recv(1 << 16):
            answer += chunk
    return answer.startswith(b"AT ")


with tempfile.TemporaryDirectory(prefix="herd-catch-up-") as work:
    ports = {name: (free_port(), free_port()) for name in ("A", "B")}
    config = os.path.join(work, "herd.toml")
    with open(config, "w") as f:
        f.write(f'[storage]\ndir = "{work}/data"\nfsync = "never"\n\n'
                f'[herd]\nmax_clients = {count + 1000}\n')
        for name, other in (("A", "B"), ("B", "A")):
            port, peer = ports[name]
            f.write(f'\n[[servers]]\nname = "{name}"\nlisten = "127.0.0.1:{port}"\n'
                    f'peer = "127.0.0.1:{peer}"\nneighbours = ["{other}"]\n')
    b_log = os.path.join(work, "data", "B", "herd.log")
    a, _ = start(binary, "A", config, ports["A"][0])
    try:
        b, _ = start(binary, "B", config, ports["B"][0])
        try:
            wait_for(b_log, "link A: caught up", 1, 30)
        finally:
            stop(b)
        load(ports["A"][0], count)
        began = time.monotonic()
        b, _ = start(binary, "B", config, ports["B"][0])
        perf = None
        if os.environ.get("PERF"):
            perf = subprocess.Popen(["perf", "record", "-g", "-e", "cpu-clock", "-o",
                                     os.environ["PERF"], "-p", f"{a.pid},{b.pid}"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            caught = wait_for(b_log, "link A: caught up", 2, 600)[1]
            if perf:
                perf.send_signal(2)
                perf.wait()
            took = time.monotonic() - began
            connected = log_lines(b_log, "link A: connected")[-1]
            link_s = stamp(caught) - stamp(connected)
            complete = knows(ports["B"][0], client_id(0)) and knows(ports["B"][0], client_id(count - 1))
        finally:
            stop(b)
    finally:
        stop(a)
    if not complete:
        sys.exit("catch_up.py: B was caught up but lacks the first or the last client")
    if as_json:
        print(json.dumps({"records": count, "restart_to_caught_up_s": took,
                          "connected_to_caught_up_s": link_s}))
    else:
        print(f"{count} missed records: B caught up {took:.2f} s after its restart, "
              f"{link_s:.2f} s after its link to A connected (B's log)")
