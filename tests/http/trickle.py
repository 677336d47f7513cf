# SPDX-License-Identifier: Apache-2.0
"""Slow uploads and the probes that run beside them: what tests/http/test_load.py asserts
on and tests/bench/bench.py (workload 7) measures. Standard library only."""
import hashlib
import http.client
import select
import socket
import threading
import time


class Trickle:
    """One upload: a PATCH of an upload session (its path, loc) whose Content-Length body is
    sent a little at a time on a connection of its own, from content made on the fly (a
    64 KiB block of its own repeated), hashed as it goes."""

    def __init__(self, port, loc, size, seed):
        self.loc, self.size, self.sent = loc, size, 0
        self.block = hashlib.sha512(seed).digest() * 1024
        self.hash = hashlib.sha256()
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.settimeout(30)
        self.sock.sendall(("PATCH %s HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n"
                           "Content-Type: application/octet-stream\r\n\r\n"
                           % (loc, size)).encode())

    def send_upto(self, total, last=False):
        """Send up to total bytes in all; the last byte only with last (from finish())."""
        total = min(total, self.size if last else self.size - 1)
        while self.sent < total:
            at = self.sent % len(self.block)
            piece = self.block[at:at + min(total - self.sent, len(self.block) - at)]
            self.sock.sendall(piece)
            self.hash.update(piece)
            self.sent += len(piece)

    def answered(self):
        """Whether the server has answered already (the upload is no longer in flight)."""
        return bool(select.select([self.sock], [], [], 0)[0])

    def finish(self):
        """Send the rest at full speed; the answer's status, headers (lower-case names) and
        body."""
        self.send_upto(self.size, last=True)
        f = self.sock.makefile("rb")
        status = int(f.readline().split()[1])
        headers = {}
        while True:
            line = f.readline().strip()
            if not line:
                break
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        body = f.read(int(headers.get("content-length", 0)))
        self.close()
        return status, headers, body

    def close(self):
        self.sock.close()

    def digest(self):
        return "sha256:" + self.hash.hexdigest()


class Feeder:
    """A thread that keeps every trickle at rate bytes a second from now until stop(); a
    connection the server cut is left alone (Trickle.answered() tells)."""

    TICK = 0.05

    def __init__(self, trickles, rate):
        self.trickles, self.rate = trickles, rate
        self.done = threading.Event()
        self.started = time.time()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.done.is_set():
            due = int(self.rate * (time.time() - self.started)) + 1
            for t in self.trickles:
                try:
                    t.send_upto(due)
                except OSError:
                    pass
            time.sleep(self.TICK)

    def stop(self):
        self.done.set()
        self.thread.join()


def probe(port, probes, seconds, at_least, timeout, check):
    """Requests (method, path, headers) in turn, each on a new connection, for seconds and at
    least at_least of them; check(probe, status, took) judges each. The latencies (s)."""
    took_all, n, t_start = [], 0, time.time()
    while time.time() - t_start < seconds or n < at_least:
        method, path, headers = probes[n % len(probes)]
        t0 = time.time()
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            c.request(method, path, headers=headers)
            r = c.getresponse()
            r.read()
            status = r.status
        except OSError:
            status = None  # a timeout or a refused connection: the check says what it means
        finally:
            c.close()
        took = time.time() - t0
        check(probes[n % len(probes)], status, took)
        took_all.append(took)
        n += 1
    return took_all


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]
