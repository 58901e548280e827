"""What every command shares: one-line errors, exit codes, signal handling.

Commands are thin Typer wrappers; library code raises KitError and never
calls sys.exit, so `transfer` and the mapper can reuse it in-process.
"""

import json
import os
import sys

from .. import errors, signals, stdfds


def install_signal_handlers():
    """SIGINT/SIGTERM/SIGHUP/SIGQUIT become an exception in the main thread, so
    `finally` blocks (multipart abort, pipe clean-up) run before we exit 128+N."""
    signals.install_handlers()


def die(prog, err):
    """Print one line naming what failed; return the exit code."""
    msg = err.message if isinstance(err, errors.KitBase) else str(err)
    print(f"{prog}: {msg}", file=sys.stderr, flush=True)
    return err.code if isinstance(err, errors.KitBase) else 1


def run(prog, fn, *args, **kwargs):
    """Call fn; map KitError/BrokenPipe/signals to an exit code; never a traceback
    for expected failures."""
    stdfds.guard()
    install_signal_handlers()
    try:
        rc = fn(*args, **kwargs)
    except errors.KitBase as e:   # KitError, or Interrupted (130/143)
        rc = die(prog, e)
    except BrokenPipeError:
        quiet_stdout()
        rc = die(prog, errors.KitIOError("stdout closed by the reader (broken pipe)"))
    except KeyboardInterrupt:
        rc = errors.SIGINT_EXIT
    sys.stdout.flush() if not sys.stdout.closed else None
    return rc or 0


def quiet_stdout():
    """Downstream closed our stdout: point it at /dev/null so later flushes (ours,
    the interpreter's at exit) do not raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def emit_json(record, stream=None):
    """One JSON line: the machine-readable form of every record we print."""
    stream = stream or sys.stdout
    stream.write(json.dumps(record, sort_keys=False, separators=(",", ":"), default=str) + "\n")
    stream.flush()


def log(prog, message):
    print(f"{prog}: {message}", file=sys.stderr, flush=True)


def stderr_is_tty():
    try:
        return os.isatty(sys.stderr.fileno())
    except (OSError, ValueError):
        return False
