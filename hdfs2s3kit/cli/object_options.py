"""Options shared by the commands that create objects (s3-put-sts, transfer, map)
and by those that move bytes (--bwlimit), defined once so names and help agree. argspec
declarations: s3-put-sts reads them without importing typer; the typer commands of the
umbrella (transfer, map) take `OPTION.typer()`."""

from .argspec import Option

STORAGE_CLASS = Option(None, "--storage-class", help="S3 storage class, e.g. STANDARD_IA, GLACIER_IR.")
TAG = Option([], "--tag", help="Object tag (repeatable, at most 10).")
METADATA = Option([], "--metadata", help="Object user metadata (repeatable).")
SSE = Option(None, "--sse", help="Server-side encryption on top of ours: s3 (SSE-S3) or kms (SSE-KMS).")
SSE_KMS_KEY_ID = Option(None, "--sse-kms-key-id", help="KMS key for --sse kms (default: the bucket's).")
BWLIMIT = Option(None, "--bwlimit", help="Bandwidth limit for the whole run, e.g. 20MiB/s "
                                                 "(shared by all parts and files in flight).")


def parse(storage_class, tags, metadata, sse, sse_kms_key_id, *, reserve_ours=True):
    from .. import objectopts

    return objectopts.parse(storage_class, tags, metadata, sse, sse_kms_key_id, reserve_ours=reserve_ours)

