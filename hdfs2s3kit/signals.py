"""Which signals end a run, and catching them for a stretch of code (main thread only).

A user can end a run with SIGINT (Ctrl-C), SIGTERM (kill, YARN, systemd),
SIGHUP (a dropped SSH session) or SIGQUIT (Ctrl-\\): each becomes
`errors.Interrupted` in the main thread (exit 128 + signal number), so the
multipart abort and the status record happen before we exit.

SIGPIPE is left ignored (Python's default): a closed pipe comes back as EPIPE
from the write that hit it and is handled there. Catching it would be wrong
here, because a part thread writing to a reset socket raises SIGPIPE too, and
that must stay a retryable network error, not end the upload.

Two places need more than `cli.common`'s handlers: the mapper must not lose a
signal that landed where an exception cannot escape (so it latches it and
checks between files), and the uploader must not be cut short by a signal
while it aborts or while a request whose answer it needs is in flight
(CreateMultipartUpload, CompleteMultipartUpload): there it only notes it.
"""

import signal
import threading

from . import errors

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


def _raise_interrupted(signum, _frame):
    raise errors.Interrupted(signum)


def install_handlers():
    """Every stop signal becomes errors.Interrupted in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return
    for s in STOP_SIGNALS:
        signal.signal(s, _raise_interrupted)


class CatchSignals:
    """Remember the first stop signal in `.signum`; with `raise_now`, also
    raise errors.Interrupted at once (after the previous handler had its say)."""

    def __init__(self, raise_now):
        self.raise_now = raise_now
        self.signum = None
        self._old = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for s in STOP_SIGNALS:
                self._old[s] = signal.getsignal(s)
                signal.signal(s, self._handler)
        return self

    def _handler(self, signum, frame):
        self.signum = self.signum or signum
        if not self.raise_now:
            return
        prev = self._old.get(signum)
        if callable(prev):
            prev(signum, frame)          # cli.common's: raises errors.Interrupted
        raise errors.Interrupted(signum)

    def check(self):
        """Raise the remembered signal, if any."""
        if self.signum is not None:
            raise errors.Interrupted(self.signum)

    def __exit__(self, *exc):
        for s, h in self._old.items():
            signal.signal(s, h)
        return False


class Deferred(CatchSignals):
    """`with Deferred():` runs its block to the end whatever signal arrives,
    then raises the first one -- also in place of an error the block raised,
    since the user's stop is what the run ends with."""

    def __init__(self):
        super().__init__(raise_now=False)

    def __exit__(self, etype, exc, tb):
        super().__exit__(etype, exc, tb)
        if self.signum is not None and not isinstance(exc, errors.Interrupted):
            raise errors.Interrupted(self.signum)
        return False
