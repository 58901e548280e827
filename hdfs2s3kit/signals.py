"""Catching SIGINT/SIGTERM for a stretch of code, in the main thread only.

`cli.common` turns both signals into `errors.Interrupted`. Two places need more:
the mapper must not lose a signal that landed where an exception cannot escape
(so it latches it and checks between files), and the uploader's abort must not
be cut short by a second signal (so it only notes it while aborting).
"""

import signal
import threading

from . import errors

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class CatchSignals:
    """Remember the first SIGINT/SIGTERM in `.signum`; with `raise_now`, also
    raise errors.Interrupted at once (after the previous handler had its say)."""

    def __init__(self, raise_now):
        self.raise_now = raise_now
        self.signum = None
        self._old = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for s in _SIGNALS:
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
