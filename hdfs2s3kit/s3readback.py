"""Is the object at the key the one we wrote? Read-back pinned to our write.

The emulator (and a buggy proxy) can store bytes that differ from what was
sent, so after a PUT or Complete the uploader reads size and checksum back.
That read must look at *our* object, not whatever the key holds by then: two
writers with --overwrite race, and deleting "a mismatch" that is really the
other writer's good object destroys it. So the HeadObject is pinned to what
our write returned -- `VersionId` on a versioned bucket, else `If-Match` on our
ETag -- and a key that no longer holds our object is reported as replaced,
never deleted. A delete of our own bad object is just as conditional.

`find_own` answers the other question a lost response raises: a retried PUT
or Complete that meets our own earlier success (If-None-Match says "exists",
or the upload is gone) -- is the object there ours? Same size and the same
full-object checksum (and, for a single PUT, the ETag = our MD5) say yes.
"""

from . import aws, errors

_KMS = ("aws:kms", "aws:kms:dsse")


class Written:
    """What our write sent and what S3 answered to it."""

    def __init__(self, bucket, key, *, size, algo, checksum, md5_hex=None, etag=None, version_id=None):
        self.bucket, self.key = bucket, key
        self.size, self.algo, self.checksum, self.md5_hex = size, algo, checksum, md5_hex
        self.etag = etag                      # quoted, as S3 returns it
        self.version_id = version_id if version_id and version_id != "null" else None
        self.url = aws.s3_url(bucket, key)

    def pin(self):
        if self.version_id:
            return {"VersionId": self.version_id}
        return {"IfMatch": self.etag} if self.etag else {}


class Replaced(errors.KitError):
    """The key no longer holds our object: another writer replaced (or deleted) it."""

    code, status = errors.CANTCREAT, "replaced"


def mismatch(head, w):
    """None when `head` describes exactly what we sent, else what differs."""
    remote = (head.get(w.algo.param) or "").split("-")[0] or None
    size = head.get("ContentLength")
    etag = (head.get("ETag") or "").strip('"')
    etag_ok = (w.md5_hex is None or head.get("ServerSideEncryption") in _KMS or etag == w.md5_hex)
    if size != w.size:
        return f"size {size} != {w.size}"
    if remote != w.checksum:
        return f"{w.algo.name} {remote} != local {w.checksum}"
    if not etag_ok:
        return f"ETag {etag} != local MD5 {w.md5_hex}"
    return None


def read_back(s3, w):
    """HeadObject of our write. -> the head, or None when reading is denied
    (a write-only role). Raises Replaced when the key holds another object,
    or the KitError of a failed request."""
    try:
        return s3.head_object(Bucket=w.bucket, Key=w.key, ChecksumMode="ENABLED", **w.pin())
    except Exception as e:  # noqa: BLE001 - classified below
        code = aws.error_code(e)
        if code in ("PreconditionFailed", "412"):
            raise Replaced(f"{w.url} was replaced by another writer before it could be verified; "
                           "nothing deleted") from None
        if code in ("404", "NoSuchKey", "NotFound", "NoSuchVersion"):
            raise Replaced(f"{w.url} was deleted by someone else before it could be verified") from None
        err = aws.as_kit_error(e, f"HeadObject {w.url} (verifying the upload)")
        if err.code == errors.NOPERM:
            return None
        raise err from None


def delete_own(s3, w):
    """Delete our (bad) object, only if it still is ours. -> (deleted, note)."""
    try:
        s3.delete_object(Bucket=w.bucket, Key=w.key, **w.pin())
        return True, "the bad object was deleted"
    except Exception as e:  # noqa: BLE001
        code = aws.error_code(e)
        if code in ("PreconditionFailed", "412"):
            return False, "another writer replaced it meanwhile; nothing deleted"
        if code in aws._DENIED:
            return False, f"deleting it was denied ({code}; needs s3:DeleteObject): delete it by hand"
        return False, f"deleting it failed ({code or type(e).__name__}): delete it by hand"


def find_own(s3, w, on_error=None):
    """-> the head of the object at the key when it is byte-for-byte what we sent,
    None when the key holds something else or nothing, `on_error` when we cannot look."""
    try:
        head = s3.head_object(Bucket=w.bucket, Key=w.key, ChecksumMode="ENABLED")
    except Exception as e:  # noqa: BLE001
        return None if aws.error_code(e) in ("404", "NoSuchKey", "NotFound") else on_error
    return head if mismatch(head, w) is None else None
