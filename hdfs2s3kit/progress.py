"""Progress people can read, on a terminal only: one status line on stderr.

    s3://b/q3.csv: 48.0/256.0 MiB (18%), 21.3 MiB/s, ETA 9s, 6 parts
    s3://b/q3.csv: completing… 256.0/256.0 MiB (100%)
    3/10 files, 120.0/400.0 MiB (30%), 40.1 MiB/s, ETA 7s

The line is redrawn in place ("\\r" then erase-to-end-of-line, so a shorter
line never leaves the tail of a longer one), cut to the terminal's width (a
wrapped line could not be redrawn), and refreshed by a ticker thread so rate,
ETA and the phase word ("completing", "verifying") stay live while no bytes
move. Anything else written to stderr goes through `clear_line()` first (see
verbosity), so an error or "interrupted" lands on a line of its own.

We draw this ourselves rather than with rich's Progress: one line, no
markup, no refresh thread racing our error messages, nothing imported on the
hot path when stderr is not a terminal.
"""

import os
import sys
import threading
import time

MiB = 1 << 20
TICK_S = 0.5
ERASE = "\r\x1b[K"

_lock = threading.RLock()
_drawn = False          # a status line is on the screen (not yet ended or cleared)


def plural(n, word, words=None):
    return f"{n} {word if n == 1 else (words or word + 's')}"


def mib(n):
    return f"{n / MiB:,.1f}"


def duration(s):
    s = max(0, int(round(s)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _width():
    try:
        cols = os.get_terminal_size(sys.stderr.fileno()).columns
    except (OSError, ValueError):
        cols = 0
    return max(20, cols - 1) if cols > 0 else 79     # 0: a terminal that does not say (e.g. a fresh pty)


def _out(text):
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def clear_line():
    """Erase our status line, if one is drawn, so the next write starts a clean line."""
    global _drawn
    with _lock:
        if _drawn:
            _out(ERASE)
            _drawn = False


def _draw(text, end=False):
    global _drawn
    with _lock:
        _out(ERASE + text[:_width()] + ("\n" if end else ""))
        _drawn = not end


def fit(label, body):
    """'label: body' within the terminal's width; a long label loses its start, not the figures."""
    room = _width() - len(body) - 2
    if len(label) > room:
        label = "…" + label[-max(room - 1, 8):]
    return f"{label}: {body}"


def figures(done, total, elapsed):
    """'12.0/40.0 MiB (30%), 5.1 MiB/s, ETA 6s' (no total: '12.0 MiB, 5.1 MiB/s')."""
    rate = done / elapsed if elapsed > 0.05 else 0.0
    if total:
        pct = min(100, int(done * 100 // total))
        text = f"{mib(done)}/{mib(total)} MiB ({pct}%)"
    else:
        text = f"{mib(done)} MiB"
    if rate:
        text += f", {rate / MiB:,.1f} MiB/s"
        if total and done < total:
            text += f", ETA {duration((total - done) / rate)}"
    return text


class _Ticking:
    """The shared machinery: a ticker thread that redraws `render()`."""

    def __init__(self, enabled):
        self.enabled = bool(enabled)
        self.t0 = time.monotonic()
        self.closed = False
        self._stop = threading.Event()
        self._thread = None
        if self.enabled:
            self._thread = threading.Thread(target=self._tick, name="progress", daemon=True)
            self._thread.start()

    def _tick(self):
        while not self._stop.wait(TICK_S):
            self.redraw()

    def redraw(self):
        if self.enabled and not self.closed:
            _draw(self.render())

    def render(self):
        raise NotImplementedError

    def _stop_ticker(self):
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(1)

    def close(self, final=None):
        """End the line: with `final` text (kept on screen), else erased."""
        if self.closed:
            return
        self._stop_ticker()
        with _lock:
            self.closed = True
            if not self.enabled:
                return
            if final:
                _draw(final, end=True)
            else:
                clear_line()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class Meter(_Ticking):
    """One stream: bytes against an optional total, parts, a phase word.

    The uploader calls `update(bytes, parts)` (bytes S3 acknowledged) and
    `phase(word)`. With `count_source=True` (transfer: the source's length is
    the total people know, not the ciphertext's) the caller feeds `add(n)` with
    source bytes read, and the line shows the acknowledged bytes capped by
    them: the source bytes that reached S3, give or take the few bytes of
    framing per MiB."""

    def __init__(self, label, total=None, *, enabled=True, count_source=False):
        self.label = label
        self.total = total
        self.count_source = count_source
        self.done = 0
        self.source = 0
        self.acked = 0
        self.parts = 0
        self.word = None
        super().__init__(enabled)
        self.redraw()

    def add(self, n):
        self.source += n
        self.done = min(self.source, self.acked)

    def update(self, nbytes=None, parts=None, final=False):
        if nbytes is not None:
            self.acked = nbytes
            self.done = min(self.source, nbytes) if self.count_source else nbytes
        if parts is not None:
            self.parts = parts

    def phase(self, word):
        self.word = word
        self.redraw()

    def render(self):
        body = figures(self.done, self.total, time.monotonic() - self.t0)
        if self.word:
            body = f"{self.word}… {body}"
        if self.parts:
            body += f", {plural(self.parts, 'part')}"
        return fit(self.label, body)

    def finish(self):
        elapsed = time.monotonic() - self.t0
        rate = self.done / elapsed / MiB if elapsed > 0.05 else 0.0
        tail = f", {plural(self.parts, 'part')}" if self.parts else ""
        self.close(fit(self.label, f"{mib(self.done)} MiB in {elapsed:,.1f}s ({rate:,.1f} MiB/s){tail}"))


class Batch(_Ticking):
    """Many files: files done/total, source bytes done/total, rate, ETA."""

    def __init__(self, files, total_bytes=None, *, enabled=True):
        self.files = files
        self.total = total_bytes
        self.done = 0
        self.finished = 0
        self.failed = 0
        self.stop_signum = None      # set when the run is interrupted: files in flight stop reading
        self._lock = threading.Lock()
        super().__init__(enabled)
        self.redraw()

    def add(self, n):
        if self.stop_signum is not None:
            from . import errors

            raise errors.Interrupted(self.stop_signum)   # in a worker: its upload aborts, as on a signal
        with self._lock:
            self.done += n

    def file_done(self, ok=True):
        with self._lock:
            self.finished += 1
            self.failed += 0 if ok else 1
        self.redraw()

    def render(self):
        text = f"{self.finished}/{plural(self.files, 'file')}"
        if self.failed:
            text += f" ({self.failed} failed)"
        return text + ", " + figures(self.done, self.total, time.monotonic() - self.t0)


class _Share:
    """One file's view of a Batch: its source bytes count towards the batch line."""

    def __init__(self, batch):
        self.batch = batch

    def add(self, n):
        self.batch.add(n)

    def update(self, nbytes=None, parts=None, final=False):
        pass

    def phase(self, word):
        pass

    def finish(self):
        pass

    def close(self, final=None):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def file_meter(setting, label, total):
    """The meter for one file of a transfer: its own line (setting True), off (False),
    or a share of a Batch."""
    if isinstance(setting, Batch):
        return _Share(setting)
    return Meter(label, total, enabled=bool(setting), count_source=True)


class Counting:
    """A reader that tells a meter how many bytes went through (source bytes)."""

    def __init__(self, inner, meter):
        self._inner = inner
        self._meter = meter

    def readinto(self, mv):
        n = self._inner.readinto(mv)
        if n:
            self._meter.add(n)
        return n

    def read(self, n=-1):
        data = self._inner.read(n)
        if data:
            self._meter.add(len(data))
        return data

    def __getattr__(self, name):
        return getattr(self._inner, name)


def stdin_size():
    """The size of stdin when it is a regular file (`< file`), else None."""
    import stat

    try:
        st = os.fstat(0)
    except OSError:
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) else None
