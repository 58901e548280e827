"""CreateMultipartUpload that cannot leave a second upload behind.

CreateMultipartUpload is not idempotent: when its response is lost (a reset
after the server acted, a read timeout), botocore's retry creates a second
upload and nobody ever aborts the first -- an orphan that is billed until a
lifecycle rule removes it. So botocore must not retry this one call, and we
retry it ourselves: before each attempt we note the upload IDs already open
for the key; after a failed attempt any *new* upload ID for that key is the
one the lost response would have named, and it is aborted before trying
again. (A concurrent writer that opened an upload on the same key in that
same instant would see its upload aborted and fail cleanly -- a failure, never
a mixed or partial object.) Listing needs s3:ListBucketMultipartUploads; a
role without it gets no snapshot, and a lost response is then reported with
the clean-up hint instead.
"""

import time

from . import aws, errors

ATTEMPTS = 3
_NO_RETRY_ID = "hdfs2s3kit-create-once"


def _no_retry(**_kw):
    return False          # first non-None answer to needs-retry: "do not retry"


def create_once(s3):
    """Make `s3` send CreateMultipartUpload exactly once per call (idempotent to call)."""
    s3.meta.events.register_first("needs-retry.s3.CreateMultipartUpload", _no_retry, unique_id=_NO_RETRY_ID)


def _open_ids(s3, bucket, key):
    """Upload IDs open for exactly this key, or None when we may not list them."""
    ids, kw = set(), {"Bucket": bucket, "Prefix": key}
    try:
        while True:
            page = s3.list_multipart_uploads(**kw)
            ids.update(u["UploadId"] for u in page.get("Uploads", []) if u.get("Key") == key)
            if not page.get("IsTruncated"):
                return ids
            kw.update(KeyMarker=page.get("NextKeyMarker"), UploadIdMarker=page.get("NextUploadIdMarker"))
    except Exception:  # noqa: BLE001 - listing is best effort (permission, outage)
        return None


def _ambiguous(err):
    """Could the server have created the upload although we got no answer?"""
    return err.status in ("unavailable", "temporary_failure")


def create(s3, bucket, key, notes, as_error, **kw):
    """-> UploadId. `notes` (a list) collects what was cleaned up; `as_error(exc)`
    maps a botocore exception to our KitError."""
    create_once(s3)
    url = aws.s3_url(bucket, key)
    delay = 0.5
    for attempt in range(1, ATTEMPTS + 1):
        before = _open_ids(s3, bucket, key)
        try:
            return s3.create_multipart_upload(Bucket=bucket, Key=key, **kw)["UploadId"]
        except Exception as e:  # noqa: BLE001 - classified below
            err = as_error(e)
            if not _ambiguous(err):
                raise err from None
        after = _open_ids(s3, bucket, key) if before is not None else None
        if after is None:
            raise errors.KitError(
                f"{err.message}; an upload it may have created could not be listed: the bucket lifecycle rule "
                f"AbortIncompleteMultipartUpload removes it, or run `hdfs2s3kit cleanup {url}`",
                code=err.code, status=err.status) from None
        for upload_id in sorted(after - before):
            try:
                s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
                notes.append(f"aborted upload {upload_id} left by a lost CreateMultipartUpload response")
            except Exception as e:  # noqa: BLE001
                notes.append(f"could not abort upload {upload_id} left by a lost response "
                             f"({aws.error_code(e) or type(e).__name__}): run `hdfs2s3kit cleanup {url}`")
        if attempt == ATTEMPTS:
            raise err from None
        time.sleep(delay)
        delay *= 2
    raise AssertionError("unreachable")
