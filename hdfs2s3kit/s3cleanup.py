"""Find and abort orphaned multipart uploads (parts S3 keeps, and bills, until aborted).

s3-put-sts aborts its own uploads on every failure it survives; this is for
the ones it cannot: a host that lost power, a kill -9, an abort that IAM
denied. The bucket lifecycle rule AbortIncompleteMultipartUpload does the
same on a schedule.
"""

import datetime
import re

from . import aws, errors

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.I)
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_age(text):
    """'90s', '30m', '24h', '7d', '2w' (or plain seconds) -> seconds."""
    m = _DURATION.match(str(text))
    if not m:
        raise errors.UsageError(f"--older-than: not a duration: {text!r} (e.g. 30m, 24h, 7d)")
    return float(m.group(1)) * _SECONDS[m.group(2).lower()]


def list_uploads(s3, bucket, prefix="", *, older_than=0.0, now=None):
    """Multipart uploads under prefix initiated more than older_than seconds ago, oldest first."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    out = []
    kw = {"Bucket": bucket, "Prefix": prefix}
    try:
        while True:
            page = s3.list_multipart_uploads(**kw)
            for u in page.get("Uploads", []):
                age = (now - u["Initiated"]).total_seconds()
                if age >= older_than:
                    out.append({"bucket": bucket, "key": u["Key"], "upload_id": u["UploadId"],
                                "initiated": u["Initiated"].isoformat(), "age_s": round(age, 1)})
            if not page.get("IsTruncated"):
                break
            kw.update(KeyMarker=page.get("NextKeyMarker"), UploadIdMarker=page.get("NextUploadIdMarker"))
    except Exception as e:  # noqa: BLE001
        raise aws.as_kit_error(e, f"ListMultipartUploads {aws.s3_url(bucket, prefix)}") from None
    out.sort(key=lambda u: u["initiated"])
    return out


def abort_upload(s3, upload):
    """Abort one upload; returns the upload dict with `action` and `error` filled in."""
    u = dict(upload)
    try:
        s3.abort_multipart_upload(Bucket=u["bucket"], Key=u["key"], UploadId=u["upload_id"])
        u.update(action="aborted", error=None)
    except Exception as e:  # noqa: BLE001 - reported per upload; the caller sets the exit code
        if aws.error_code(e) in ("NoSuchUpload", "404"):
            u.update(action="already_gone", error=None)
        else:
            err = aws.as_kit_error(e, f"AbortMultipartUpload {aws.s3_url(u['bucket'], u['key'])}")
            u.update(action="failed", error=err.message, exit_code=err.code)
    return u


def cleanup(s3, bucket, prefix="", *, older_than=86400.0, dry_run=False):
    """Yield one result dict per orphaned upload (action: would_abort/aborted/already_gone/failed)."""
    for u in list_uploads(s3, bucket, prefix, older_than=older_than):
        if dry_run:
            yield dict(u, action="would_abort", error=None)
        else:
            yield abort_upload(s3, u)
