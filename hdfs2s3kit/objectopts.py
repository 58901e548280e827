"""Object options users ask for: storage class, tags, user metadata and
server-side encryption (SSE-S3 or SSE-KMS, on top of the client-side Fernet
encryption), turned into S3 request arguments and the status record's fields.

The same `ObjectOptions` goes to s3-put-sts, transfer and the mapper, so the
names, checks and recorded fields are the same everywhere.
"""

import urllib.parse

from . import errors

STORAGE_CLASSES = ("STANDARD", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER", "GLACIER_IR",
                   "DEEP_ARCHIVE", "REDUCED_REDUNDANCY", "EXPRESS_ONEZONE")
SSE_MODES = {"s3": "AES256", "aes256": "AES256", "kms": "aws:kms", "aws:kms": "aws:kms"}
MAX_TAGS = 10                      # S3's limit per object
RESERVED_META_PREFIX = "h2s3-"     # our fingerprint; a user value must not pass for it


def _pairs(items, what):
    out = {}
    for p in items or ():
        k, sep, v = str(p).partition("=")
        k = k.strip()
        if not sep or not k:
            raise errors.UsageError(f"{what}: expected K=V, got {p!r}")
        if any(c in k + v for c in "\r\n\0"):
            raise errors.UsageError(f"{what}: no line breaks or NUL in {p!r}")
        out[k] = v
    return out


class ObjectOptions:
    # A plain class, not a dataclass: `dataclasses` pulls in `inspect` (~15 ms of s3-put-sts's
    # start-up, issue 15). Nothing compares or copies these.
    __slots__ = ("storage_class", "tags", "metadata", "sse", "sse_kms_key_id")

    def __init__(self, storage_class=None, tags=None, metadata=None, sse=None, sse_kms_key_id=None):
        self.storage_class = storage_class
        self.tags = {} if tags is None else tags
        self.metadata = {} if metadata is None else metadata
        self.sse = sse                         # AES256 | aws:kms
        self.sse_kms_key_id = sse_kms_key_id

    def request_args(self):
        """Extra arguments for PutObject / CreateMultipartUpload (metadata goes separately)."""
        kw = {}
        if self.storage_class:
            kw["StorageClass"] = self.storage_class
        if self.tags:
            kw["Tagging"] = urllib.parse.urlencode(self.tags, quote_via=urllib.parse.quote)
        if self.sse:
            kw["ServerSideEncryption"] = self.sse
        if self.sse_kms_key_id:
            kw["SSEKMSKeyId"] = self.sse_kms_key_id
        return kw

    def record_fields(self):
        return {"storage_class": self.storage_class, "tags": dict(self.tags) or None,
                "metadata": dict(self.metadata) or None, "sse": self.sse,
                "sse_kms_key_id": self.sse_kms_key_id}


def parse(storage_class=None, tags=(), metadata=(), sse=None, sse_kms_key_id=None, *, reserve_ours=True):
    """reserve_ours: refuse h2s3-* metadata keys (transfer and the mapper write the real ones;
    s3-put-sts takes them from bin/hdfs2s3-pipe)."""
    sc = storage_class.strip().upper() if storage_class else None
    if sc and sc not in STORAGE_CLASSES:
        raise errors.UsageError(f"--storage-class: {storage_class!r} is not one of {', '.join(STORAGE_CLASSES)}")
    tag_map = _pairs(tags, "--tag")
    if len(tag_map) > MAX_TAGS:
        raise errors.UsageError(f"--tag: S3 allows at most {MAX_TAGS} tags per object, got {len(tag_map)}")
    from .s3put import parse_metadata   # S3's rules for keys and values, and its size limit

    meta = parse_metadata(metadata)
    if reserve_ours and any(k.startswith(RESERVED_META_PREFIX) for k in meta):
        raise errors.UsageError(f"--metadata: keys starting with {RESERVED_META_PREFIX!r} are the toolkit's own")
    mode = None
    if sse:
        mode = SSE_MODES.get(sse.strip().lower())
        if mode is None:
            raise errors.UsageError(f"--sse: {sse!r} is not s3 (SSE-S3, AES256) or kms (SSE-KMS)")
    if sse_kms_key_id and mode != "aws:kms":
        raise errors.UsageError("--sse-kms-key-id needs --sse kms")
    return ObjectOptions(sc, tag_map, meta, mode, sse_kms_key_id or None)
