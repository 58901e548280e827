"""How much a command says on stderr: -q (errors only), default, -v (one line
per file), --debug (also every AWS call, each attempt with its timing).

One process-wide level, set by the CLI before any work starts; library code
asks it instead of taking a flag through every layer. Records on stdout are
never affected: only what people read is.

--debug never prints a secret: an AWS call is described by a fixed list of
harmless parameters (bucket, key, part number, parameter name, role ARN...);
bodies, parameter values, credentials and signatures are never looked at.
"""

import os
import sys
import threading
import time

QUIET, NORMAL, VERBOSE, DEBUG = -1, 0, 1, 2
ENV_VAR = "HDFS2S3_VERBOSITY"      # inherited by the tools a command starts (map tasks, demo)
_NAMES = {"quiet": QUIET, "normal": NORMAL, "verbose": VERBOSE, "debug": DEBUG}

_level = _NAMES.get(os.environ.get(ENV_VAR, "").lower(), NORMAL)
_lock = threading.Lock()

# Request parameters safe to show (never Value, Body, Message, secrets, tokens).
SHOWN_PARAMS = ("Bucket", "Key", "PartNumber", "UploadId", "Name", "Path", "Names", "RoleArn",
                "RoleSessionName", "DurationSeconds", "TopicArn", "Namespace", "VersionId", "Range",
                "MaxResults")


def set_level(level):
    global _level
    _level = level
    name = next(k for k, v in _NAMES.items() if v == level)
    os.environ[ENV_VAR] = name


def level():
    return _level


def quiet():
    return _level <= QUIET


def verbose():
    return _level >= VERBOSE


def debugging():
    return _level >= DEBUG


def _write(prog, message):
    with _lock:
        from . import progress   # a progress line on the terminal is cleared first

        progress.clear_line()
        try:
            print(f"{prog}: {message}" if prog else message, file=sys.stderr, flush=True)
        except (OSError, ValueError):
            pass


def info(prog, message):
    """A note people want by default (summaries, warnings); silent with -q."""
    if not quiet():
        _write(prog, message)


def detail(prog, message):
    """One line per file (-v)."""
    if verbose():
        _write(prog, message)


def debug(prog, message):
    if debugging():
        _write(prog, message)


def file_line(prog, rec):
    """-v: one line per file from its status record."""
    if not verbose():
        return
    dest = f"s3://{rec.get('bucket')}/{rec.get('key')}" if rec.get("bucket") else "-"
    size = rec.get("src_bytes") if rec.get("src_bytes") is not None else rec.get("bytes")
    tail = f", {size} bytes" if size is not None else ""
    tail += f", {rec['duration_s']:.2f}s" if isinstance(rec.get("duration_s"), (int, float)) else ""
    err = f": {rec['error']}" if rec.get("error") else ""
    detail(prog, f"{rec.get('status')} {rec.get('src') or '-'} -> {dest}{tail}{err}")


def describe_params(params):
    parts = []
    for name in SHOWN_PARAMS:
        v = params.get(name)
        if v is None:
            continue
        if name == "UploadId":
            v = str(v)[:12] + "…"
        parts.append(f"{name}={v}")
    return " ".join(parts)


def _before_call(params=None, model=None, context=None, **_kw):
    if context is not None:
        context["h2s3_desc"] = describe_params(params or {})
        context["h2s3_t0"] = time.monotonic()


def _before_send(request=None, **_kw):
    ctx = getattr(request, "context", None)
    if ctx is not None:
        ctx["h2s3_ts"] = time.monotonic()


def _received(event_name="", context=None, exception=None, response_dict=None, **_kw):
    ctx = context or {}
    dt = time.monotonic() - ctx.get("h2s3_ts", ctx.get("h2s3_t0", time.monotonic()))
    attempt = (ctx.get("retries") or {}).get("attempt", 1)
    _, service, op = (event_name.split(".") + ["?", "?"])[:3]
    if exception is not None:
        outcome = type(exception).__name__
    else:
        outcome = str((response_dict or {}).get("status_code", "?"))
    desc = ctx.get("h2s3_desc", "")
    debug("aws", f"{service}.{op}{' ' + desc if desc else ''} attempt {attempt}: {outcome} in {dt * 1000:.0f} ms")


def attach(client):
    """Log every call of this client's at --debug (one line per attempt)."""
    if not debugging():
        return client
    ev = client.meta.events
    ev.register("before-parameter-build", _before_call)
    ev.register("before-send", _before_send)
    ev.register("response-received", _received)
    return client
