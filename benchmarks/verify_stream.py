"""How much time `bhsvc verify` adds to reading a 100,000-line build stream.

The fake BinderHub (tests/fakes/binderhub.py) runs in its own process and sends
the "huge" scenario the way BinderHub does: one chunk, one write per event.
Each round reads the same stream in four ways, in turn:

- raw-stdlib: http.client's response.read1() until the end, nothing parsed;
- raw-bhsvc:  bhsvc's BuildStream.read() until the end (the same read1, with
              the deadline on every socket read), nothing parsed;
- client:     verify's watch loop: parse every event, track phases, decide
              (the --output json path: no display);
- client+live: the same with the rich live display drawing to a terminal.

It also times a burst: a recorded copy of the whole response (status line,
headers, chunked body) read from memory through http.client (read1 decoding
the chunks), parsed and tracked, with no network at all. That is the client's
CPU cost per event when it falls behind and every event is already waiting.

The overhead is the client's wall time over raw-bhsvc's (the same transport,
so the difference is exactly parsing, tracking and display), best of the rounds
(the figure least disturbed by other load on the machine) and median. CPU time
of this process is shown too: it says how much headroom the client has when
BinderHub sends faster than it does here.

    python benchmarks/verify_stream.py [--lines 100000] [--rounds 9] [--check]

--check exits 1 when the client adds 5% or more.
"""

from __future__ import annotations

import argparse
import http.client
import io
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from bhsvc.binderhub import Target, open_build_stream
from bhsvc.build_view import BuildView
from bhsvc.build_watch import Deadlines, watch_build
from bhsvc.events import BuildTracker, EventStreamParser

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"  # where `python -m fakes.binderhub` runs
SPEC = "gh/binder-examples/requirements/HEAD"
PATH = f"/build/{SPEC}?build_only=true"
GOAL = 0.05


def raw_stdlib(port: int) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", PATH, headers={"Accept": "text/event-stream"})
    response = conn.getresponse()
    total = 0
    while data := response.read1(65536):
        total += len(data)
    conn.close()
    return total


def raw_bhsvc(port: int) -> int:
    total = 0
    with open_build_stream(
        Target(f"http://127.0.0.1:{port}/"), SPEC, time.monotonic() + 60
    ) as stream:
        while data := stream.read(time.monotonic() + 60):
            total += len(data)
    return total


def client(port: int, view: BuildView | None = None) -> int:
    deadlines = Deadlines(600, 60, time.monotonic())
    watch = watch_build(Target(f"http://127.0.0.1:{port}/"), SPEC, deadlines, view)
    assert watch.outcome.ok, watch.outcome
    return watch.tracker.events


def record(port: int) -> bytes:
    """The response exactly as it came over the wire (status line, headers, chunks)."""
    request = f"GET {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
    pieces: list[bytes] = []
    tail = b""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(request.encode())
        # The connection stays open after the last chunk (keep-alive).
        while not tail.endswith(b"\r\n0\r\n\r\n"):
            pieces.append(sock.recv(65536))
            tail = (tail + pieces[-1])[-7:]
    return b"".join(pieces)


class _Recorded:
    """What http.client needs of a socket, serving a recorded response from memory."""

    def __init__(self, wire: bytes) -> None:
        self.wire = wire

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(io.BytesIO(self.wire), 65536)


def burst(wire: bytes, parse: bool = True) -> float:
    """CPU seconds to decode (http.client), parse and track a recorded response; with
    parse=False, to decode it only."""
    start = time.process_time()
    response = http.client.HTTPResponse(_Recorded(wire))  # type: ignore[arg-type]
    response.begin()
    parser, tracker = EventStreamParser(), BuildTracker(0.0)
    while data := response.read1(65536):
        if parse:
            for item in parser.feed(data):
                tracker.observe(item, 0.0)
    assert not parse or (tracker.outcome is not None and tracker.outcome.ok)
    return time.process_time() - start


def measure(fn: Callable[[], int]) -> tuple[float, float, int]:
    wall, cpu = time.perf_counter(), time.process_time()
    count = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--check", action="store_true", help=f"exit 1 if overhead >= {GOAL:.0%}")
    args = parser.parse_args()

    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fakes.binderhub",
            "--scenario",
            "huge",
            "--log-lines",
            str(args.lines),
        ],
        cwd=TESTS,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    port = int(server.stdout.readline())
    devnull = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the run
    live = BuildView(Console(file=devnull, force_terminal=True, width=120))
    variants: dict[str, Callable[[], int]] = {
        "raw-stdlib": lambda: raw_stdlib(port),
        "raw-bhsvc": lambda: raw_bhsvc(port),
        "client": lambda: client(port),
        "client+live": lambda: client(port, live),
    }
    results: dict[str, list[tuple[float, float, int]]] = {name: [] for name in variants}
    try:
        for fn in variants.values():
            fn()  # warm-up: imports, first connections
        body = record(port)
        for _ in range(args.rounds):
            for name, fn in variants.items():
                results[name].append(measure(fn))
    finally:
        server.terminate()
        server.wait(10)
        devnull.close()

    python = sys.version.split()[0]
    load = os.getloadavg()[0]
    print(
        f"{args.lines:,} log lines, {args.rounds} rounds, python {python}, "
        f"{os.cpu_count()} cpus, load {load:.2f}"
    )
    print(
        f"{'variant':<12} {'best s':>7} {'median s':>9} {'cpu s':>7} "
        f"{'best vs raw':>12} {'median vs raw':>14} {'µs cpu/event':>13}"
    )
    events = args.lines + 12
    best_base = min(w for w, _, _ in results["raw-bhsvc"])
    median_base = statistics.median(w for w, _, _ in results["raw-bhsvc"])
    worst = float("-inf")
    for name, runs in results.items():
        best = min(w for w, _, _ in runs)
        median = statistics.median(w for w, _, _ in runs)
        cpu = statistics.median(c for _, c, _ in runs)
        if name.startswith("client"):
            worst = max(worst, best / best_base - 1)
        print(
            f"{name:<12} {best:7.3f} {median:9.3f} {cpu:7.3f} {best / best_base - 1:+12.1%} "
            f"{median / median_base - 1:+14.1%} {cpu / events * 1e6:13.2f}"
        )
    parse_cpu = statistics.median(burst(body) for _ in range(args.rounds))
    decode_cpu = statistics.median(burst(body, parse=False) for _ in range(args.rounds))
    print(
        f"burst (recorded {len(body) / 1e6:.1f} MB, from memory): decode+parse+track "
        f"{parse_cpu:.3f} s cpu, {parse_cpu / events * 1e6:.2f} µs/event, of which "
        f"http.client's chunk decoding {decode_cpu / events * 1e6:.2f} µs/event"
    )
    verdict = "meets" if worst < GOAL else "misses"
    print(
        f"client overhead (best of {args.rounds}, worst variant): {worst:+.1%}; "
        f"{verdict} the goal of < {GOAL:.0%}"
    )
    return 1 if args.check and worst >= GOAL else 0


if __name__ == "__main__":
    sys.exit(main())
