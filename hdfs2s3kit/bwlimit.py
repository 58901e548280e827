"""--bwlimit RATE: one byte-rate limit per process, shared by every part in
flight and every file of a `transfer -j N` run (a shared edge node's uplink
is one resource, not one per connection).

A token bucket kept as virtual time: each `take(n)` books the next n/rate
seconds of the link and sleeps until its booking ends, so threads queue
fairly and the long-run rate is exact. Up to BURST_S seconds' worth of bytes
may go at once after an idle spell or a stall of the endpoint (never more than
that; rclone's bucket holds one second too), so a slow moment does not cost
throughput the limit would have allowed.

The uploader takes tokens as each request body is read by the HTTP client
(in slices of SLICE bytes), so the limit applies on the wire, retries
included; the downloader takes them as each chunk is written out.
"""

import re
import threading
import time

from . import errors

SLICE = 256 * 1024
BURST_S = 1.0     # like rclone: up to one second of bytes may go at once after a stall
_RATE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?)(I?B?)?\s*(?:/S|PS)?\s*$", re.I)
_UNIT = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_rate(text, what="--bwlimit"):
    """'20MiB/s', '20M', '500KiB', '1.5GB/s' -> bytes per second (binary units); None/''/0 -> None."""
    if text is None or str(text).strip() in ("", "0", "off"):
        return None
    m = _RATE.match(str(text))
    if not m:
        raise errors.UsageError(f"{what}: not a rate: {text!r} (e.g. 20MiB/s, 500KiB/s, 1GiB/s)")
    rate = float(m.group(1)) * _UNIT[m.group(2).upper()]
    if rate < 1024:
        raise errors.UsageError(f"{what}: {text!r} is below 1 KiB/s")
    return rate


class Limiter:
    def __init__(self, rate):
        self.rate = float(rate)
        self.burst = max(SLICE, self.rate * BURST_S)
        self._lock = threading.Lock()
        self._next = time.monotonic()     # when the link is free again (virtual time)
        self.taken = 0

    def take(self, n):
        """Block until n more bytes may go."""
        if n <= 0:
            return
        with self._lock:
            now = time.monotonic()
            start = max(self._next, now)
            self._next = start + n / self.rate
            wait = self._next - now - self.burst / self.rate
            self.taken += n
        if wait > 0:
            time.sleep(wait)

    def __repr__(self):
        return f"Limiter({self.rate:.0f} B/s)"


def limiter(text):
    """A Limiter for a --bwlimit value, or None when unlimited."""
    rate = parse_rate(text)
    return Limiter(rate) if rate else None
