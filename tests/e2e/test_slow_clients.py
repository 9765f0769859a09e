#!/usr/bin/env python3
"""Slow and idle clients cannot starve the API (issue 10). farmd serves one
thread per connection, up to api.threads_max (256). 300 connections from ten
loopback addresses (127.0.0.2-11) send one byte a second of a request that
never ends, reconnecting whenever they are closed; meanwhile a well-behaved
client on 127.0.0.1 submits and gets its result. Without a per-address cap
the slow ones hold every thread and the good client is turned away. An idle
connection is closed after api.connection_timeout_s."""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apitest  # noqa: E402
from apitest import farmtest  # noqa: E402

N_SLOW = 300
N_ADDRS = 10
REQUEST = b"POST /v1/submissions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n" + b"{" * 1000


class Trickle:
    """N_SLOW sockets, one byte each per second, until stop() (bounded by limit_s)."""

    def __init__(self, port, limit_s=180):
        self.port = port
        self.limit = time.time() + limit_s
        self.socks = [None] * N_SLOW
        self.pos = [0] * N_SLOW
        self.rounds = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def connect(self, i):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(1)
        try:
            s.bind(("127.0.0.%d" % (2 + i % N_ADDRS), 0))
            s.connect(("127.0.0.1", self.port))
        except OSError:
            s.close()
            return None
        return s

    def run(self):
        while not self.stopped.is_set() and time.time() < self.limit:
            for i in range(N_SLOW):
                s = self.socks[i]
                if s is None:
                    s = self.socks[i] = self.connect(i)
                    self.pos[i] = 0
                if s is None:
                    continue
                try:
                    s.send(REQUEST[self.pos[i]:self.pos[i] + 1])
                    self.pos[i] = (self.pos[i] + 1) % len(REQUEST)
                except OSError:  # closed by the server: come back
                    s.close()
                    self.socks[i] = None
            self.rounds += 1
            self.stopped.wait(1)

    def start(self):
        self.thread.start()
        while self.rounds < 3 and self.thread.is_alive():
            time.sleep(0.1)

    def stop(self):
        self.stopped.set()
        self.thread.join()
        for s in self.socks:
            if s is not None:
                s.close()


def main():
    cases = []

    def slow_clients_do_not_starve_others():
        settings = {"api.connections_per_address": "8", "api.connection_timeout_s": "60"}
        with farmtest.Farm(workers=1, builders=1, settings=settings) as farm:
            t = Trickle(farm.port)
            try:
                t.start()
                for i in range(3):
                    st, b = farm.submit(apitest.hello(), wait=True, timeout=300)
                    assert st == 200 and b["state"] == "finished", (st, b)
                    assert b["verdict"] == "accepted", b
                    st, h = farm.request("GET", "/v1/health")
                    assert st == 200, (st, h)
                assert t.thread.is_alive(), "the slow clients stopped before the good client was done"
            finally:
                t.stop()
    cases.append(("300 one-byte-a-second connections from 10 addresses; a good client gets its results",
                  slow_clients_do_not_starve_others))

    def idle_connections_are_closed():
        with apitest.api_farm(settings={"api.connection_timeout_s": "1"}) as farm:
            s = socket.create_connection(("127.0.0.1", farm.port))
            try:
                s.settimeout(60)
                s.send(b"GET /v1/hea")  # and then nothing
                try:
                    data = s.recv(100)
                except ConnectionResetError:
                    data = b""
                assert data == b"" or data.startswith(b"HTTP/1.1 4"), data
            finally:
                s.close()
            st, _ = farm.request("GET", "/v1/health")
            assert st == 200
    cases.append(("an idle connection is closed after api.connection_timeout_s", idle_connections_are_closed))
    sys.exit(farmtest.run_cases(cases))


if __name__ == "__main__":
    main()
