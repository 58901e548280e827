"""Run manifests: the audit trail of a scale-out run, and the input of a retry.

Every map task attempt writes JSON lines, one per file outcome, to
    s3://BUCKET/PREFIX/_manifests/RUN_ID/TASK_ID/ATTEMPT_ID-SEQ.jsonl
each object created with `If-None-Match: *`, so nothing ever overwrites an
earlier attempt's record. Retries and speculative attempts may report the same
outcome twice (two `skipped` lines for one file); readers dedupe by
(src, status, digest), and a file's final outcome is its best one
(ok > skipped > failure): a failure followed by a successful retry is done.
"""

import json
import os
import socket
import time
import uuid

from . import aws, errors, status

MANIFEST_DIR = "_manifests"
FLUSH_EVERY = 500          # records per object: a killed attempt loses at most this many lines...
FLUSH_AFTER_S = 120.0      # ...or this much time; its retry re-records those files as skipped
READERS = 8               # parallel GETs when reading a run back
_RANK = {"ok": 0, "skipped": 1}

ENTRY_FIELDS = ("run_id", "task_id", "attempt_id", "src", "dest", "bucket", "key", "version_id", "status",
                "exit_code", "error", "src_bytes", "bytes", "xxh3_128", "key_id", "user", "host", "session_name",
                "started", "finished", "duration_s")


def parse_root(url):
    """'s3://BUCKET[/PREFIX/]' -> (bucket, prefix without surrounding slashes)."""
    bucket, prefix = aws.parse_s3_url(url, need_key=False)
    return bucket, prefix.strip("/")


def manifest_root(config=None, override=None):
    """(bucket, prefix) under which `_manifests/` lives: `override` (s3://B/P),
    else the config's bucket and prefix."""
    if override:
        return parse_root(override)
    if config is None or config.get("bucket") is None:
        raise errors.ConfigError("no manifest location: pass --manifests s3://BUCKET/PREFIX or a config with a bucket")
    return config.get("bucket"), (config.get("prefix") or "").strip("/")


def run_prefix(prefix, run_id):
    check_run_id(run_id)
    return "/".join(p for p in (prefix, MANIFEST_DIR, run_id) if p) + "/"


def check_run_id(run_id):
    if not run_id or "/" in run_id or run_id.startswith(".") or any(c.isspace() for c in run_id):
        raise errors.UsageError(f"bad run ID {run_id!r}: use letters, digits, '-', '_' (no '/', no spaces)")
    return run_id


def new_run_id():
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:6]


def entry(record, *, run_id, task_id, attempt_id):
    """A status record cut down to the manifest's fields (never key material:
    status records only ever carry the key ID)."""
    out = {f: record.get(f) for f in ENTRY_FIELDS}
    out.update(run_id=run_id, task_id=task_id, attempt_id=attempt_id, dest=_dest(record))
    out["host"] = out["host"] or socket.gethostname()
    out["user"] = out["user"] or user_name()
    out["finished"] = out["finished"] or status.now_iso()
    return out


class ManifestWriter:
    """Buffers entries and writes them as conditional-create objects."""

    def __init__(self, s3, bucket, prefix, run_id, task_id, attempt_id, *, flush_every=FLUSH_EVERY,
                 flush_after_s=FLUSH_AFTER_S):
        self.s3, self.bucket = s3, bucket
        self.base = run_prefix(prefix, run_id) + f"{_safe(task_id)}/{_safe(attempt_id)}"
        self.run_id, self.task_id, self.attempt_id = run_id, task_id, attempt_id
        self.flush_every, self.flush_after_s = flush_every, flush_after_s
        self._buf, self._seq, self._since = [], 0, time.monotonic()
        self.keys = []

    def add(self, record):
        self._buf.append(entry(record, run_id=self.run_id, task_id=self.task_id, attempt_id=self.attempt_id))
        if len(self._buf) >= self.flush_every or time.monotonic() - self._since >= self.flush_after_s:
            self.flush()

    def flush(self):
        if not self._buf:
            return
        body = "".join(json.dumps(e, separators=(",", ":"), default=str) + "\n" for e in self._buf).encode()
        key = f"{self.base}-{self._seq:04d}.jsonl"
        self._put(key, body)
        self.keys.append(key)
        self._seq += 1
        self._buf, self._since = [], time.monotonic()

    def close(self):
        self.flush()

    def _put(self, key, body):
        for attempt in range(2):
            try:
                self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, IfNoneMatch="*",
                                   ContentType="application/x-ndjson")
                return
            except Exception as e:  # noqa: BLE001 - mapped below
                if aws.error_code(e) in ("PreconditionFailed", "412") and attempt == 0:
                    # Same attempt ID written before (a re-run by hand): keep both, never overwrite.
                    key = key[: -len(".jsonl")] + f"-{uuid.uuid4().hex[:8]}.jsonl"
                    continue
                raise aws.as_kit_error(e, f"writing run manifest s3://{self.bucket}/{key}") from None


def _safe(name):
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(name)) or "_"


def read_entries(s3, bucket, prefix, run_id):
    """All entries of a run, in key order, as (entries, objects, bad_lines)."""
    root = run_prefix(prefix, run_id)
    keys = []
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=root):
            keys += [o["Key"] for o in page.get("Contents", []) if o["Key"].endswith(".jsonl")]
    except Exception as e:  # noqa: BLE001
        raise aws.as_kit_error(e, f"listing s3://{bucket}/{root}") from None
    if not keys:
        raise errors.NoInputError(f"no manifest for run {run_id} under s3://{bucket}/{root}")
    def fetch(key):
        try:
            return s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8", "replace")
        except Exception as e:  # noqa: BLE001
            raise aws.as_kit_error(e, f"reading s3://{bucket}/{key}") from None

    # A big run has one object per task attempt (thousands): fetch them side by side.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=READERS) as pool:
        bodies = list(pool.map(fetch, sorted(keys)))
    entries, bad = [], 0
    for body in bodies:
        for line in body.splitlines():
            try:
                e = json.loads(line)
            except ValueError:
                bad += 1
                continue
            if isinstance(e, dict) and e.get("src") is not None:
                entries.append(e)
            else:
                bad += 1
    return entries, len(keys), bad


def dedupe(entries):
    """One entry per (src, status, digest): the same outcome reported by a retry
    or a speculative attempt counts once (the earliest report is kept)."""
    seen, out = set(), []
    for e in sorted(entries, key=lambda e: e.get("finished") or ""):
        k = (e.get("src"), e.get("status"), e.get("xxh3_128"))
        if k not in seen:
            seen.add(k)
            out.append(e)
    return out


def final_outcomes(entries):
    """{src: entry} with each file's best outcome; among failures the latest."""
    best = {}
    for e in sorted(entries, key=lambda e: e.get("finished") or ""):
        src = e["src"]
        rank = _RANK.get(e.get("status"), 2)
        cur = best.get(src)
        cur_rank = 3 if cur is None else _RANK.get(cur.get("status"), 2)
        if rank < cur_rank or rank == cur_rank == 2:
            best[src] = e
    return best


def summarize(entries, *, run_id, objects=0, bad_lines=0, location=""):
    distinct = dedupe(entries)
    final = final_outcomes(distinct)
    counts = {}
    for e in final.values():
        counts[e.get("status")] = counts.get(e.get("status"), 0) + 1
    failures = [e for e in final.values() if e.get("status") not in status.OK_STATUSES]
    return {
        "run_id": run_id,
        "location": location,
        "objects": objects,
        "entries": len(entries),
        "distinct_entries": len(distinct),
        "bad_lines": bad_lines,
        "attempts": len({e.get("attempt_id") for e in entries}),
        "files": len(final),
        "counts": dict(sorted(counts.items())),
        "ok": counts.get("ok", 0),
        "skipped": counts.get("skipped", 0),
        "failed": len(failures),
        # each file's successful upload once, however often it was reported
        "src_bytes": sum(e.get("src_bytes") or 0 for e in final.values() if e.get("status") == "ok"),
        "bytes": sum(e.get("bytes") or 0 for e in final.values() if e.get("status") == "ok"),
        "failures": [dict({k: e.get(k) for k in ("src", "status", "exit_code", "error", "attempt_id")},
                          dest=_dest(e)) for e in sorted(failures, key=lambda e: e["src"])],
    }


def _dest(e):
    if e.get("dest"):
        return e["dest"]
    return f"s3://{e['bucket']}/{e['key']}" if e.get("bucket") and e.get("key") else None


def retry_listing(summary):
    """Mapper input lines for the failed files only: SRC, or SRC<TAB>DEST."""
    lines = []
    for f in summary["failures"]:
        dest = f.get("dest")
        lines.append(f"{f['src']}\t{dest}" if dest else f["src"])
    return lines


def load_summary(s3, bucket, prefix, run_id):
    entries, objects, bad = read_entries(s3, bucket, prefix, run_id)
    return summarize(entries, run_id=run_id, objects=objects, bad_lines=bad,
                     location=f"s3://{bucket}/{run_prefix(prefix, run_id)}")


def format_summary(s):
    lines = [
        f"run {s['run_id']}: {s['location']}",
        f"  {s['objects']} manifest objects, {s['entries']} entries ({s['distinct_entries']} distinct), "
        f"{s['attempts']} task attempts" + (f", {s['bad_lines']} unreadable lines" if s["bad_lines"] else ""),
        f"  files: {s['files']}  ok: {s['ok']}  skipped: {s['skipped']}  failed: {s['failed']}",
        f"  sent this run: {s['src_bytes']} source bytes, {s['bytes']} bytes uploaded (encrypted)",
    ]
    other = {k: v for k, v in s["counts"].items() if k not in status.OK_STATUSES}
    if other:
        lines.append("  failures by status: " + ", ".join(f"{k} {v}" for k, v in other.items()))
    for f in s["failures"]:
        err = f.get("error") or ""
        where = "" if f["src"] in err else f"{f['src']}: "     # errors usually name their source already
        lines.append(f"  FAILED {f['status']}: {where}{err}".rstrip())
    return "\n".join(lines)


def user_name():
    from . import identity

    try:
        return identity.effective_user()
    except errors.NoUserError:
        return os.environ.get("USER")
