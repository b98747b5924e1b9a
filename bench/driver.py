"""A light HTTP load driver for bench/webhooks.py: prepared requests replayed over raw keep-alive sockets.

An httpx-based driver took a whole core and capped even the bare endpoint at about 500 webhooks/s, so its
"share of the bare endpoint" measured the driver. This one writes requests that were serialised beforehand
(bytes: request line, headers, signed body) and reads only the status line and Content-Length of each answer,
on asyncio streams (uvloop when installed). It runs as a separate process, so its CPU time is its own and is
printed beside the figures.

    python bench/driver.py REQUESTS_FILE RESULTS_FILE --host 127.0.0.1 --port P --senders 50

REQUESTS_FILE: JSON lines, one {"raw": base64 of the whole HTTP request} each. RESULTS_FILE gets one JSON object:
{"sent": [[status, sent_at, answered_at], ...] in request order, "cpu_s": ..., "started": ..., "finished": ...}
with time.monotonic() times (CLOCK_MONOTONIC: the same clock in every process on the machine).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import resource
import sys
import time
from pathlib import Path


def http_request(host: str, port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    """A complete HTTP/1.1 POST with a keep-alive connection."""
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() not in ("content-length", "host")]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def _sender(
    host: str, port: int, requests: list[bytes], queue: list[int], out: list[list[float]], timeout: float
) -> None:
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    while queue:
        index = queue.pop()
        started = time.monotonic()
        status = 0
        for _ in range(2):  # a keep-alive connection closed by the server: reconnect once
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                assert reader is not None
                writer.write(requests[index])
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
                status = int(head[9:12])
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                if length:
                    await asyncio.wait_for(reader.readexactly(length), timeout)
                if b"connection: close" in head.lower():
                    writer.close()
                    reader = writer = None
                break
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
                if writer is not None:
                    writer.close()
                reader = writer = None
                status = 0
        out[index] = [status, started, time.monotonic()]
    if writer is not None:
        writer.close()


async def drive(host: str, port: int, requests: list[bytes], senders: int, timeout: float = 30.0) -> dict[str, object]:
    out: list[list[float]] = [[0, 0.0, 0.0] for _ in requests]
    queue = list(range(len(requests)))[::-1]  # popped from the end: in order
    started = time.monotonic()
    await asyncio.gather(*(_sender(host, port, requests, queue, out, timeout) for _ in range(senders)))
    return {"sent": out, "started": started, "finished": time.monotonic()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("requests", type=Path)
    parser.add_argument("results", type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--senders", type=int, default=50)
    args = parser.parse_args()
    requests = [base64.b64decode(json.loads(line)["raw"]) for line in args.requests.read_text().splitlines() if line]
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # plain asyncio is fine, only a little slower
        runner = asyncio.run
    before = resource.getrusage(resource.RUSAGE_SELF)
    result = runner(drive(args.host, args.port, requests, args.senders))
    after = resource.getrusage(resource.RUSAGE_SELF)
    result["cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    args.results.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
