"""Status records (docs/STATUS.md): one JSON object per transfer attempt.

Producers: s3-put-sts, transfer, the mapper. Consumers: notify, the mapper's
manifest, people with jq. Field names are the schema; keep them stable.
"""

import datetime
import time

SCHEMA = 1
OK_STATUSES = {"ok", "skipped"}
# --dry-run outcomes: nothing was done, and nothing failed
DRY_RUN_STATUSES = {"would_send", "would_skip", "would_replace"}

FIELDS = (
    "schema", "tool", "status", "exit_code", "error",
    "src", "bucket", "key", "version_id", "etag", "bytes", "parts", "part_sizes",
    "checksum_algorithm", "checksum", "checksum_type", "checksum_verified", "framed", "frames",
    "upload_id", "aborted", "object_exists", "completeness", "note", "xxh3_128", "key_id",
    "role_arn", "session_name", "user", "hadoop_user", "hadoop_principal", "hadoop_auth", "host",
    "started", "finished", "duration_s", "mib_s",
)


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_record(tool, **fields):
    rec = {f: None for f in FIELDS}
    rec.update(schema=SCHEMA, tool=tool, status="started", exit_code=None, started=now_iso())
    rec["_t0"] = time.monotonic()
    rec.update(fields)
    return rec


def finish(rec, status, exit_code=0, error=None):
    """Stamp the end of an attempt; drops the private monotonic start. An HDFS source's record
    names the Hadoop identity the process read it as (hadoopident), beside the Linux `user`."""
    t0 = rec.pop("_t0", None)
    src = rec.get("src")
    if rec.get("hadoop_user") is None and src and src != "-" and not str(src).startswith("file:"):
        from . import hadoopident

        ident = hadoopident.bound()
        if ident is not None:
            rec.update(ident.record())
    rec["status"] = status
    rec["exit_code"] = exit_code
    rec["error"] = error
    rec["finished"] = now_iso()
    if t0 is not None:
        dur = max(time.monotonic() - t0, 1e-9)
        rec["duration_s"] = round(dur, 3)
        if rec.get("bytes") is not None:
            rec["mib_s"] = round(rec["bytes"] / dur / 1048576, 2)
    return rec


def is_failure(rec):
    return rec.get("status") not in OK_STATUSES and rec.get("status") not in DRY_RUN_STATUSES
