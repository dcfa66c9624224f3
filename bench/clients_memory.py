#!/usr/bin/env python3
"""Memory per client in the table, and restart to listening, of one `herd serve`.

    python3 bench/clients_memory.py [HERD_BINARY] [CLIENTS] [--json]

Starts a one-server herd (storage on, `fsync = "never"`) on free loopback ports in a
temporary folder, reads its VmRSS, sends one IAMAT for each of CLIENTS distinct client ids
(default 1,000,000; ids `c0000000.cs.ucla.edu`, a location and a client time of the classic
lengths: stored lines of 98 bytes) over one pipelined connection, waits SETTLE seconds
(default 2), reads VmRSS again, then stops the server (SIGTERM), starts it on the same store,
timing the start until the client port answers, waits SETTLE seconds and reads VmRSS once
more. REPORTS=K (default 1) sends each client K IAMATs, each later than the one before, so
the store's log holds K records per client at the restart. Prints the growth per client after the load and after the restart (over the first
start's RSS), and the restart time; `--json` prints one JSON object instead. Stops every
server it started by its PID.
"""
import json
import os
import sys
import tempfile
import time

from herd_procs import free_port, load, log_lines, rss, start, stop

as_json = "--json" in sys.argv
args = [a for a in sys.argv[1:] if a != "--json"]
binary = args[0] if len(args) > 0 else "target/release/herd"
count = int(args[1]) if len(args) > 1 else 1_000_000
# Seconds to wait before each RSS reading after the load and after the restart (allocators
# hand freed memory back to the system after a while).
settle = float(os.environ.get("SETTLE", "2"))
reports = int(os.environ.get("REPORTS", "1"))

with tempfile.TemporaryDirectory(prefix="herd-clients-") as work:
    port, peer = free_port(), free_port()
    config = os.path.join(work, "herd.toml")
    with open(config, "w") as f:
        f.write(f'[storage]\ndir = "{work}/data"\nfsync = "never"\n\n'
                f'[herd]\nmax_clients = {count + 1000}\n\n'
                f'[[servers]]\nname = "Solo"\nlisten = "127.0.0.1:{port}"\n'
                f'peer = "127.0.0.1:{peer}"\n')
    server, first_start = start(binary, "Solo", config, port)
    try:
        time.sleep(0.5)
        before = rss(server.pid)
        began = time.monotonic()
        for later in range(reports):
            load(port, count, later)
        took = time.monotonic() - began
        time.sleep(settle)
        loaded = rss(server.pid)
    finally:
        stop(server)
    server, restart = start(binary, "Solo", config, port)
    try:
        time.sleep(settle)
        again = rss(server.pid)
    finally:
        stop(server)
    recovered = []
    for root, _, files in os.walk(work):
        for name in files:
            recovered += log_lines(os.path.join(root, name), "recovered ")
    if as_json:
        print(json.dumps({
            "clients": count, "reports": reports, "load_s": took, "rss_before": before, "rss_loaded": loaded,
            "rss_restarted": again, "per_client_loaded": (loaded - before) / count,
            "per_client_restarted": (again - before) / count, "restart_s": restart,
            "first_start_s": first_start, "recovered": sorted(recovered)[-1:]}))
        sys.exit(0)
    print(f"{count} clients loaded ({reports} IAMATs each) in {took:.1f} s: RSS {before / 1e6:.1f} MB -> "
          f"{loaded / 1e6:.1f} MB, {(loaded - before) / count:.0f} B per client")
    print(f"restart to listening: {restart:.2f} s (the first start, empty: {first_start:.2f} s); "
          f"RSS then {again / 1e6:.1f} MB, {(again - before) / count:.0f} B per client "
          "(over the first start's baseline)")
    for line in sorted(recovered)[-1:]:
        print(f"the server's log at the restart: {line}")
