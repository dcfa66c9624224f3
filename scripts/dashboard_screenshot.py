#!/usr/bin/env python3
"""Retake docs/dashboard.png from the real page of a running `herd up`.

Run `cargo run --release -- up` in another terminal, then `python3 scripts/dashboard_screenshot.py`.
It keeps twelve clients moving around the world (IAMATs to every server in turn), drives
headless Chromium through chromedriver (the WebDriver protocol, plain HTTP; `chromium
--screenshot` never finishes on a page that holds an event stream), waits until the page shows
five servers up and every client on the map, and saves the screenshot (default
docs/dashboard.png). Needs Debian's `chromium` and `chromium-driver`; nothing but the standard
library.
"""

import base64
import json
import math
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

SERVERS = {"Bailey": 10000, "Bona": 10001, "Campbell": 10002, "Clark": 10003, "Jaquez": 10004}
PAGE = "http://127.0.0.1:11000/"
CLIENTS = [
    ("kiwi.cs.ucla.edu", 34.0689, -118.4451), ("lax.walker", 33.94, -118.40),
    ("sf.cyclist", 37.77, -122.42), ("nyc.taxi", 40.71, -74.00), ("london.bus", 51.50, -0.12),
    ("paris.velo", 48.85, 2.35), ("tokyo.train", 35.68, 139.69), ("sydney.ferry", -33.86, 151.20),
    ("sao.paulo", -23.55, -46.63), ("cairo.cab", 30.04, 31.24), ("mumbai.auto", 19.07, 72.87),
    ("nairobi.matatu", -1.29, 36.82),
]
READY = """return document.querySelectorAll('circle.client').length >= %d
  && document.querySelectorAll('g.server[data-state="up"]').length === 5;""" % len(CLIENTS)


def move(stop):
    """Reports every client a little further along its circle, every half second."""
    names = list(SERVERS)
    step = 0
    while not stop.is_set():
        for i, (client, lat, lng) in enumerate(CLIENTS):
            a = step * 0.05 + i
            where = "%+.6f%+.6f" % (lat + 0.8 * math.sin(a), lng + 0.8 * math.cos(a))
            port = SERVERS[names[(i + step) % len(names)]]
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(("IAMAT %s %s %.6f\n" % (client, where, time.time())).encode())
                s.shutdown(socket.SHUT_WR)
                s.recv(4096)
        step += 1
        stop.wait(0.5)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "docs/dashboard.png"
    stop = threading.Event()
    threading.Thread(target=move, args=(stop,), daemon=True).start()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    driver = subprocess.Popen(["chromedriver", "--port=%d" % port],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def call(method, path, body=None):
        req = urllib.request.Request(
            "http://127.0.0.1:%d%s" % (port, path), method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as answer:
            return json.load(answer)["value"]

    try:
        for _ in range(100):
            try:
                call("GET", "/status")
                break
            except OSError:
                time.sleep(0.1)
        args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--window-size=1280,860",
                "--user-data-dir=" + tempfile.mkdtemp()]
        session = call("POST", "/session", {"capabilities": {"alwaysMatch": {
            "goog:chromeOptions": {"args": args}}}})["sessionId"]
        call("POST", "/session/%s/url" % session, {"url": PAGE})
        deadline = time.time() + 30
        while not call("POST", "/session/%s/execute/sync" % session,
                       {"script": READY, "args": []}):
            if time.time() > deadline:
                sys.exit("the page never showed five servers and every client")
            time.sleep(0.1)
        time.sleep(3)  # a few status refreshes (each second) and moves
        png = call("GET", "/session/%s/screenshot" % session)
        with open(out, "wb") as f:
            f.write(base64.b64decode(png))
        call("DELETE", "/session/%s" % session)
        print("saved", out)
    finally:
        stop.set()
        driver.kill()
        driver.wait()


if __name__ == "__main__":
    main()
