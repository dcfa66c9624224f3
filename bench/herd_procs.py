"""Helpers the Python benches share: free ports, RSS, starting and stopping `herd serve`,
loading a server with one IAMAT per client. Every process started here is stopped by its PID.
"""
import socket
import subprocess
import sys
import threading
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss(pid):
    """The process's resident memory in bytes (VmRSS)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def start(binary, name, config, port):
    """Starts server NAME; returns it and the seconds until its client port answered."""
    began = time.monotonic()
    server = subprocess.Popen([binary, "serve", name, "--config", config],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = began + 120
    while True:
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            return server, time.monotonic() - began
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                server.wait()
                sys.exit(f"{name} did not start")
            time.sleep(0.005)


def stop(server):
    """SIGTERM, then SIGKILL after a minute."""
    server.terminate()
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def client_id(i):
    """Client ID number I: 20 bytes, like the classic `kiwi.cs.ucla.edu` ones."""
    return f"c{i:07d}.cs.ucla.edu"


def load(port, count, later=0):
    """One IAMAT for each of COUNT clients over one pipelined connection, LATER seconds after
    the classic time (a later call with a larger LATER makes every client move); returns when
    every answer is in, and exits if one is missing or refused."""
    conn = socket.create_connection(("127.0.0.1", port))
    answered = [0, b""]

    def read():
        while answered[0] < count:
            chunk = conn.recv(1 << 20)
            if not chunk:
                break
            answered[0] += chunk.count(b"\n")
            answered[1] = chunk[-200:]

    reader = threading.Thread(target=read)
    reader.start()
    step = 10_000
    for first in range(0, count, step):
        lines = "".join(
            f"IAMAT {client_id(i)} +34.068930-118.445127 {1621464827 + later}.{i % 10**9:09d}\n"
            for i in range(first, min(first + step, count)))
        conn.sendall(lines.encode())
    reader.join(timeout=600)
    conn.close()
    if answered[0] < count:
        sys.exit(f"{answered[0]} of {count} IAMATs answered")
    if not answered[1].rstrip(b"\n").split(b"\n")[-1].startswith(b"AT "):
        sys.exit(f"a refused IAMAT: {answered[1]!r}")


def log_lines(path, text):
    """The lines of the I/O log at PATH that hold TEXT."""
    try:
        with open(path, "rb") as f:
            return [l.decode(errors="replace").strip() for l in f if text.encode() in l]
    except FileNotFoundError:
        return []
