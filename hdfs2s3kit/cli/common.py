"""What every command shares: one-line errors, exit codes, signal handling.

Commands are thin Typer wrappers; library code raises KitError and never
calls sys.exit, so `transfer` and the mapper can reuse it in-process.
"""

import os
import sys

from .. import errors, signals, stdfds


def install_signal_handlers():
    """SIGINT/SIGTERM/SIGHUP/SIGQUIT become an exception in the main thread, so
    `finally` blocks (multipart abort, pipe clean-up) run before we exit 128+N."""
    signals.install_handlers()


# Under `authz-check --audit` stderr carries JSON lines only: errors and warnings too.
_json_stderr = {"on": False, "prog": None}


def die(prog, err):
    """Print one line naming what failed; return the exit code."""
    msg = err.message if isinstance(err, errors.KitBase) else errors.printable(err)
    code = err.code if isinstance(err, errors.KitBase) else 1
    if _json_stderr["on"]:
        emit_json({"event": "error", "prog": prog, "message": msg, "code": code}, sys.stderr)
    else:
        print(f"{prog}: {msg}", file=sys.stderr, flush=True)
    return code


def _os_error(e):
    """An OSError no layer turned into a KitError (ENOSPC on stdout, a closed stdin, ...): 74."""
    what = f" ({e.filename})" if getattr(e, "filename", None) else ""
    return errors.KitIOError(f"I/O error{what}: {e.strerror or type(e).__name__}")


def run(prog, fn, *args, json_errors=False, site_policy=True, **kwargs):
    """Call fn; map KitError/OSError/BrokenPipe/signals to an exit code and one line; never a
    traceback for expected failures (any OSError is one: 74).

    The site policy's warnings are routed to warn(prog) (JSON under --audit). site_policy=False
    says this run never reads the site policy (fernet-* with --key-file), so sitepolicy, whose
    import costs ~4 ms of start-up, is not imported for it."""
    stdfds.guard()
    install_signal_handlers()
    _json_stderr.update(on=bool(json_errors), prog=prog)
    if site_policy or "hdfs2s3kit.sitepolicy" in sys.modules:
        from .. import sitepolicy

        sitepolicy.on_warning = lambda m: warn(prog, m)
    try:
        rc = fn(*args, **kwargs)
    except errors.KitBase as e:   # KitError, or Interrupted (130/143)
        rc = die(prog, e)
    except BrokenPipeError:
        quiet_stdout()
        rc = die(prog, errors.KitIOError("stdout closed by the reader (broken pipe)"))
    except OSError as e:
        rc = die(prog, _os_error(e))
    except KeyboardInterrupt:
        rc = errors.SIGINT_EXIT
    try:
        if sys.stdout is not None and not sys.stdout.closed:   # None: started with fd 1 closed
            sys.stdout.flush()
    except OSError as e:   # what was left in the buffer cannot be written (ENOSPC, EPIPE)
        quiet_stdout()
        rc = rc or die(prog, _os_error(e))
    return rc or 0


def need_stdin_stdout():
    """A filter started with stdin or stdout closed has nothing to read or nowhere to write:
    74, rather than silently filtering /dev/null (stdfds.guard parks it there)."""
    for fd, name, closed in ((0, "stdin", stdfds.stdin_closed()), (1, "stdout", stdfds.stdout_closed())):
        if closed:
            raise errors.KitIOError(f"{name} is closed (fd {fd})")


def quiet_stdout():
    """Downstream closed our stdout: point it at /dev/null so later flushes (ours,
    the interpreter's at exit) do not raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def effective_policy(config_prefix=None, flag_policy=None):
    """The authz policy a command applies: site files, the SSM config when one is set (or
    pinned by the site), --policy on top (sitepolicy.effective)."""
    from .. import keyring, sitepolicy

    cfg = None
    if config_prefix or os.environ.get(keyring.CONFIG_ENV) or sitepolicy.pinned_prefix()[0]:
        from .. import config  # imports boto3: only when a config is in play

        cfg = config.load_config(config_prefix)
    return sitepolicy.effective(config=cfg, flag_policy=flag_policy)


def emit_json(record, stream=None):
    """One JSON line: the machine-readable form of every record we print."""
    import json   # here, not at the top: most runs of a filter print none (~3 ms of start-up)

    stream = stream or sys.stdout
    stream.write(json.dumps(record, sort_keys=False, separators=(",", ":"), default=str) + "\n")
    stream.flush()


def log(prog, message):
    if _json_stderr["on"]:
        emit_json({"event": "log", "prog": prog, "message": errors.printable(message)}, sys.stderr)
    else:
        print(f"{prog}: {errors.printable(message)}", file=sys.stderr, flush=True)


def warn(prog, message):
    if _json_stderr["on"]:
        emit_json({"event": "warning", "prog": prog, "message": errors.printable(message)}, sys.stderr)
    else:
        print(f"{prog}: warning: {errors.printable(message)}", file=sys.stderr, flush=True)


def stderr_is_tty():
    try:
        return os.isatty(sys.stderr.fileno())
    except (OSError, ValueError):
        return False
