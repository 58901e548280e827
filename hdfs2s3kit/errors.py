"""Exit codes (sysexits) and the one exception type every layer raises.

A command turns a KitError into one line on stderr and its exit code; library
callers (transfer, the mapper) catch it per file and record `status`/`code`.
"""

import re

OK = 0
USAGE = 2
DATAERR = 65      # bad or tampered data, checksum mismatch
NOINPUT = 66      # missing input file / key file / source path
NOUSER = 67       # unknown user
UNAVAILABLE = 69  # a service or required program is unavailable
CANTCREAT = 73    # object exists (no clobber)
IOERR = 74        # I/O error: short read, failing reader
TEMPFAIL = 75     # temporary failure: throttling, outage (retry later)
NOPERM = 77       # permission denied (authz or IAM)
CONFIG = 78       # configuration error
SIGINT_EXIT = 130
SIGTERM_EXIT = 143
SIGNAL_EXIT_BASE = 128   # a run ended by signal N exits 128 + N (HUP 129, INT 130, QUIT 131, TERM 143)


# C0 and C1 controls, DEL, and undecodable bytes kept as surrogates (paths are bytes).
# Compiled at the first message, not at import: every command imports this module, few print.
_CONTROL_PATTERN = "[\x00-\x1f\x7f-\x9f\udc80-\udcff]"
_CONTROL = None
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(m):
    c = m.group()
    if c in _NAMED:
        return _NAMED[c]
    n = ord(c)
    return f"\\x{n - 0xdc00 if n >= 0xdc80 else n:02x}"


def printable(text):
    """TEXT safe for a terminal and for one line: control characters (an escape sequence
    hidden in a forged stream header or a file name) and undecodable bytes as \\xNN."""
    global _CONTROL
    if _CONTROL is None:
        _CONTROL = re.compile(_CONTROL_PATTERN)
    return _CONTROL.sub(_escape, str(text))


class KitBase(BaseException):
    """What every toolkit failure carries: an exit code, a one-line message safe
    to print, the short `status` word used in status records (e.g.
    "checksum_mismatch", "exists", "denied"), and optionally a partially filled
    status `record` for the caller to emit."""

    code = 1
    status = "failed"

    def __init__(self, message, *, code=None, status=None, record=None):
        super().__init__(message)
        # One line, and nothing a terminal would interpret: messages quote paths, key IDs
        # and remote error text, none of which we control.
        self.message = printable(message)
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.record = record


class KitError(KitBase, Exception):
    """An ordinary failure: callers catch it per file and record it."""


class UsageError(KitError):
    code, status = USAGE, "usage"


class DataError(KitError):
    code, status = DATAERR, "bad_data"


class NoInputError(KitError):
    code, status = NOINPUT, "no_input"


class NoUserError(KitError):
    code, status = NOUSER, "unknown_user"


class UnavailableError(KitError):
    code, status = UNAVAILABLE, "unavailable"


class ExistsError(KitError):
    code, status = CANTCREAT, "exists"


class KitIOError(KitError):
    code, status = IOERR, "io_error"


class TempFailError(KitError):
    code, status = TEMPFAIL, "temporary_failure"


class PermissionDeniedError(KitError):
    code, status = NOPERM, "denied"


class ConfigError(KitError):
    code, status = CONFIG, "config_error"


class Interrupted(KitBase):
    """Raised in the main thread by our handler of a stop signal (signals.STOP_SIGNALS).

    Not an Exception, like KeyboardInterrupt: botocore turns any Exception
    raised inside an HTTP request into a retryable HTTPClientError, which would
    retry a kill away and carry on."""

    status = "interrupted"

    def __init__(self, signum):
        import signal

        super().__init__(f"interrupted by {signal.Signals(signum).name}", code=SIGNAL_EXIT_BASE + int(signum))
        self.signum = signum
