#!/usr/bin/env python3
"""RSS per idle client connection of one `herd serve`, as the performance issue names it.

    python3 bench/idle_connections.py [HERD_BINARY] [idle|iamat] [CONNECTIONS]

Starts a one-server herd on a free loopback port (in a temporary folder), reads its VmRSS,
opens CONNECTIONS connections (default 10,000) that send nothing (`idle`) or one IAMAT each
for their own client id (`iamat`: the table then holds a record per connection too), waits
2 s, reads VmRSS again and prints the growth per connection. Stops the server by its PID.
`bench/run.sh`'s hold section measures connections that send one IAMAT per second instead.
Needs an open-file limit above CONNECTIONS (it raises its own soft limit to the hard one).
"""
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time

from herd_procs import free_port, rss

binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/herd"
mode = sys.argv[2] if len(sys.argv) > 2 else "idle"
count = int(sys.argv[3]) if len(sys.argv) > 3 else 10_000
if mode not in ("idle", "iamat"):
    sys.exit("idle_connections.py: the mode is idle or iamat")
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
if hard < count + 64:
    sys.exit(f"idle_connections.py: the open-file limit ({hard}) is below {count} connections")


with tempfile.TemporaryDirectory(prefix="herd-idle-") as work:
    port, peer = free_port(), free_port()
    config = os.path.join(work, "herd.toml")
    with open(config, "w") as f:
        f.write(f'[storage]\ndir = "{work}"\n\n[[servers]]\nname = "Solo"\n'
                f'listen = "127.0.0.1:{port}"\npeer = "127.0.0.1:{peer}"\n')
    server = subprocess.Popen([binary, "serve", "Solo", "--config", config],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port)).close()
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    sys.exit("idle_connections.py: the server did not start")
                time.sleep(0.05)
        time.sleep(0.5)
        before = rss(server.pid)
        conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
        if mode == "iamat":
            for i, c in enumerate(conns):
                c.sendall(f"IAMAT idle-{i} +1+1 1621464827.5\n".encode())
            for c in conns:
                c.settimeout(30)
                answer = b""
                while not answer.endswith(b"\n"):
                    chunk = c.recv(256)
                    if not chunk:
                        sys.exit("idle_connections.py: a connection closed before its answer")
                    answer += chunk
        time.sleep(2)
        after = rss(server.pid)
        print(f"{mode}: {count} connections, RSS {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB, "
              f"{(after - before) / count:.0f} B per connection")
        for c in conns:
            c.close()
    finally:
        server.terminate()
        server.wait()
