"""Names of the object metadata the toolkit writes (x-amz-meta-*; S3 lower-cases them).

Values are ASCII (paths percent-encoded). `h2s3-src-length` is the length
fingerprint: the plaintext length the object must decrypt to. `transfer`
writes it from the source's status, `s3-put-sts` from the length an
encrypted stream's header announces; `verify` checks it.
"""

META_SRC = "h2s3-src"
META_LENGTH = "h2s3-src-length"
META_MTIME = "h2s3-src-mtime"
META_KEY_ID = "h2s3-key-id"
META_STREAM_ID = "h2s3-stream-id"
META_FORMAT = "h2s3-format"
