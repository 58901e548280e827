"""SNS notifications from status records, and the relay `notify` runs.

Modes: `default` (each failure, plus one summary at the end), `failure`
(each failure), `always` (each record), `summary` (one summary at the end).
Subjects stay under SNS's 100 characters, bodies under MAX_BODY (SNS allows
256 KiB) with long lists cut and counted, and every message carries the
attributes status, bucket, count, kind and pipeline for subscription filters.
Like metrics, never fatal: a failed publish is warned about on stderr once,
later per-record messages pause a while (the summary is always tried), and
only strict=True raises (TempFailError, 75).
"""

import collections
import hashlib
import json
import os
import re
import signal
import socket
import sys
import time

from . import aws, errors, signals, status
from .metrics import monitoring_client

MODES = ("default", "failure", "always", "summary")
MAX_SUBJECT = 99              # SNS: "less than 100 characters", ASCII, no control characters
MAX_BODY = 64 * 1024          # bytes; SNS allows 256 KiB
MAX_FIELD = 2000              # characters of any one record field shown in a message
MAX_LISTED = 200              # failures kept in memory for the summary
PAUSE_AFTER_FAILURE = 30.0
_TOPIC_RE = re.compile(r"^arn:aws[a-z-]*:sns:([a-z0-9-]+):\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$")
_CTRL = re.compile(r"[\x00-\x1f\x7f]+")


def topic_problem(topic_arn):
    if not topic_arn:
        return "no SNS topic (pass --topic-arn or set sns_topic_arn in the config)"
    if not _TOPIC_RE.match(topic_arn):
        return f"not an SNS topic ARN: {topic_arn!r:.120}"
    return None


def subject_line(text):
    """SNS subject: printable ASCII on one line, < 100 characters."""
    s = _CTRL.sub(" ", text).encode("ascii", "replace").decode("ascii").strip() or "hdfs2s3kit"
    return s if len(s) <= MAX_SUBJECT else s[: MAX_SUBJECT - 3] + "..."


def _short(v):
    if isinstance(v, str) and len(v) > MAX_FIELD:
        return v[:MAX_FIELD] + f"...[{len(v) - MAX_FIELD} more characters]"
    return v


def _where(rec):
    if rec.get("bucket") and rec.get("key"):
        return f"s3://{rec['bucket']}/{rec['key']}"
    return str(rec.get("src") or rec.get("bucket") or "")


def _one_line(rec):
    parts = [f"status={rec.get('status')}", f"exit={rec.get('exit_code')}"]
    if rec.get("src"):
        parts.append(f"src={_short(str(rec['src']))}")
    dest = _where(rec)
    if dest and dest != rec.get("src"):
        parts.append(f"dest={_short(dest)}")
    if rec.get("error"):
        parts.append(f"error={_short(str(rec['error']))}")
    return " ".join(parts)


class Notifier:
    def __init__(self, session, topic_arn, mode="default", *, strict=False, prog="notify", pipeline=None,
                 max_each=50, client=None):
        if mode not in MODES:
            raise errors.UsageError(f"notification mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.topic_arn = topic_arn
        self.mode = mode
        self.strict = strict
        self.prog = prog
        self.pipeline = pipeline
        self.max_each = max_each      # per-record messages before the rest only go in the summary
        self.failed = False           # a publish failed (or SNS could not start)
        self.sent = 0
        self.undelivered = 0
        self.counts = collections.Counter()   # status -> records
        self.records = 0
        self.bytes_ok = 0
        self.buckets = set()
        self.failures = []            # the first MAX_LISTED failure records
        self.failure_count = 0
        self.suppressed = 0           # per-record messages left out by max_each
        self._each_sent = 0
        self._session = session
        self._client = client
        self._paused_until = 0.0
        self._warned = False
        self._host = socket.gethostname()
        problem = topic_problem(topic_arn)
        self.problem = problem     # why notifications are off (misconfigured), else None
        if problem:
            self._fail(errors.ConfigError(f"SNS notifications off: {problem}"))

    # -- records ------------------------------------------------------
    def add(self, record):
        self.records += 1
        self.counts[str(record.get("status"))] += 1
        if record.get("bucket"):
            self.buckets.add(str(record["bucket"]))
        failed = status.is_failure(record)
        if not failed and isinstance(record.get("bytes"), int):
            self.bytes_ok += record["bytes"]
        if failed:
            self.failure_count += 1
            if len(self.failures) < MAX_LISTED:
                self.failures.append(record)
        if self.mode == "always" or (failed and self.mode in ("default", "failure")):
            if self.max_each and self._each_sent >= self.max_each:
                self.suppressed += 1
                return
            self._each_sent += 1
            self._publish(*self.record_message(record), attrs=self._attrs(
                "failure" if failed else "record", record.get("status"), record.get("bucket"), 1))

    def finish(self, note=None):
        """The end of the stream: the summary (modes default/summary, or when
        per-record messages were cut). `note` is a line added to it."""
        if self.mode in ("default", "summary") or self.suppressed:
            self._publish(*self.summary_message(note), attrs=self._attrs(
                "summary", "failed" if self.failure_count else "ok",
                next(iter(self.buckets)) if len(self.buckets) == 1 else None, self.records), always=True)
        if self.undelivered and not self.problem:
            print(f"{self.prog}: warning: {self.undelivered} SNS notification(s) not delivered",
                  file=sys.stderr, flush=True)

    # -- messages -----------------------------------------------------
    def _tag(self):
        return f"[{self.pipeline}] " if self.pipeline else ""

    def record_message(self, rec):
        failed = status.is_failure(rec)
        word = f"FAILED {rec.get('status')}" if failed else str(rec.get("status"))
        subject = subject_line(f"{self._tag()}hdfs2s3kit {word}: {_where(rec) or rec.get('tool') or ''}")
        head = [f"hdfs2s3kit transfer {word}" + (f" (pipeline {self.pipeline})" if self.pipeline else ""),
                _one_line(rec), f"reported by notify on {self._host}", "", "status record:"]
        body = "\n".join(head) + "\n" + json.dumps({k: _short(v) for k, v in rec.items()}, indent=1,
                                                   default=str)
        return subject, _cap(body)

    def summary_message(self, note=None):
        n, nf = self.records, self.failure_count
        verdict = f"{nf} FAILED of {n}" if nf else (f"all {n} ok" if n else "no records")
        subject = subject_line(f"{self._tag()}hdfs2s3kit summary: {verdict}")
        by_status = ", ".join(f"{s} {c}" for s, c in sorted(self.counts.items())) or "none"
        lines = ["hdfs2s3kit summary" + (f" (pipeline {self.pipeline})" if self.pipeline else "")
                 + f", reported by notify on {self._host}",
                 f"records: {n} ({by_status})", f"bytes in ok transfers: {self.bytes_ok}"]
        if len(self.buckets) == 1:
            lines.append(f"bucket: {next(iter(self.buckets))}")
        if note:
            lines.append(f"note: {note}")
        if self.suppressed:
            lines.append(f"{self.suppressed} per-record notification(s) were not sent individually "
                         f"(limit {self.max_each}); they are counted here")
        if self.undelivered:
            lines.append(f"{self.undelivered} earlier notification(s) could not be delivered")
        if nf:
            lines += ["", f"failures ({nf}):"]
        body = "\n".join(lines) + "\n"
        budget = MAX_BODY - 200
        listed = 0
        for rec in self.failures:
            line = "- " + _one_line(rec) + "\n"
            if len(body.encode()) + len(line.encode()) > budget:
                break
            body += line
            listed += 1
        if nf > listed:
            body += f"... and {nf - listed} more failure(s) not listed\n"
        return subject, _cap(body)

    def _attrs(self, kind, stat, bucket, count):
        attrs = {"kind": kind, "status": stat, "bucket": bucket, "pipeline": self.pipeline}
        out = {k: {"DataType": "String", "StringValue": str(v)[:256]} for k, v in attrs.items()
               if v not in (None, "")}
        out["count"] = {"DataType": "Number", "StringValue": str(int(count))}
        return out

    # -- sending ------------------------------------------------------
    def _publish(self, subject, body, *, attrs, always=False):
        if self.problem or (not always and time.monotonic() < self._paused_until):
            self.undelivered += 1
            return False
        kw = {"TopicArn": self.topic_arn, "Subject": subject, "Message": body, "MessageAttributes": attrs}
        if self.topic_arn.endswith(".fifo"):
            kw["MessageGroupId"] = self.pipeline or "hdfs2s3kit"
            kw["MessageDeduplicationId"] = hashlib.sha256(
                f"{self._host}:{time.time_ns()}:{self.sent}".encode()).hexdigest()
        try:
            if self._client is None:
                region = _TOPIC_RE.match(self.topic_arn).group(1)
                self._client = monitoring_client(self._session, "sns", region)
            self._client.publish(**kw)
        except Exception as e:  # noqa: BLE001 - an outage is reported, never fatal unless strict
            self.undelivered += 1
            self._paused_until = time.monotonic() + PAUSE_AFTER_FAILURE
            self._fail(aws.as_kit_error(e, f"SNS Publish {self.topic_arn}"))
            return False
        self.sent += 1
        return True

    def _fail(self, err):
        self.failed = True
        if not self._warned:
            self._warned = True
            print(f"{self.prog}: warning: {err.message} (records still pass through)", file=sys.stderr,
                  flush=True)
        if self.strict:
            if isinstance(err, errors.ConfigError):
                raise err
            raise errors.TempFailError(err.message) from None


def _cap(body):
    raw = body.encode("utf-8")
    if len(raw) <= MAX_BODY:
        return body
    tail = "\n...[message cut]\n"
    return raw[: MAX_BODY - len(tail)].decode("utf-8", "ignore") + tail


# -- the relay `notify` runs ---------------------------------------------
MAX_LINE = 1024 * 1024        # a longer "line" is not a status record (someone piped data in)


class RelayResult:
    def __init__(self):
        self.records = 0          # complete, well-formed records
        self.failures = 0         # failing records, including input problems
        self.first_code = None    # exit code of the first failure in stream order
        self.problems = []        # input problems (malformed/partial/no records), in order
        self.stdout_closed = False
        self.interrupted = None   # errors.Interrupted, if a signal stopped the relay


def input_failure(error, status_word="bad_data", code=errors.DATAERR):
    """A status record standing for a problem with the stream itself."""
    rec = status.new_record("notify", host=socket.gethostname())
    return status.finish(rec, status_word, code, error)


def _whole(fn, *args):
    """Run fn with the stop signals held, so a record is passed through and
    reported, or neither; a held signal is taken right after."""
    held = set(signals.STOP_SIGNALS)
    old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        fn(*args)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def relay(src, dst, sinks, *, prog="notify"):
    """Copy src to dst unchanged, line by line as it arrives, feeding each
    status record to every sink (`.add(record)`). A malformed line, a partial
    last line and a stream with no record at all are fed as failure records
    (status bad_data/truncated, exit code 65). The sinks are not finished."""
    res = RelayResult()

    def write(chunk):
        if res.stdout_closed:
            return
        try:
            dst.write(chunk)
            dst.flush()
        except BrokenPipeError:
            res.stdout_closed = True
            print(f"{prog}: warning: stdout closed by the reader; still reading and reporting",
                  file=sys.stderr, flush=True)
            try:  # later flushes (ours, the interpreter's) must not raise again
                os.dup2(os.open(os.devnull, os.O_WRONLY), dst.fileno())
            except (OSError, ValueError, AttributeError):
                pass

    def feed(rec, code):
        if status.is_failure(rec):
            res.failures += 1
            if res.first_code is None:
                res.first_code = code
        for sink in sinks:
            sink.add(rec)

    def problem(error, word="bad_data"):
        res.problems.append(error)
        feed(input_failure(error, word), errors.DATAERR)

    def handle(line, lineno):
        write(line)
        if not line.strip():
            return
        try:
            rec = json.loads(line)
        except ValueError:
            rec = None
        if not isinstance(rec, dict) or not isinstance(rec.get("status"), str):
            if not line.endswith(b"\n"):
                problem(f"input ended inside a record (partial last line, {len(line)} bytes): "
                        "the upstream command stopped mid-write", "truncated")
            else:
                problem(f"line {lineno} is not a JSON status record")
            return
        res.records += 1
        code = rec.get("exit_code")
        valid = isinstance(code, int) and not isinstance(code, bool) and 0 < code < 256
        feed(rec, code if valid else 1)

    lineno = 0
    try:
        while True:
            line = src.readline(MAX_LINE + 1)   # signals are taken here, between records
            if not line:
                break
            lineno += 1
            if len(line) > MAX_LINE and not line.endswith(b"\n"):
                while line and not line.endswith(b"\n"):
                    _whole(write, line)
                    line = src.readline(MAX_LINE + 1)
                _whole(write, line)
                _whole(problem, f"line {lineno} is longer than {MAX_LINE} bytes: not a status record")
                continue
            _whole(handle, line, lineno)
        if res.records == 0 and not res.problems:
            problem("input ended without a complete status record (did the upstream command crash?)",
                    "truncated")
    except errors.Interrupted as e:
        res.interrupted = e
        res.problems.append(e.message)
        feed(input_failure(f"notify {e.message} after {res.records} record(s)", "interrupted", e.code),
             e.code)
    return res
