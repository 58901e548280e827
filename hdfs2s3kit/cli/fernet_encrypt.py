"""`fernet-encrypt`: stdin -> stdout as a streaming Fernet stream (docs/FORMAT.md)."""

import os
import re
import sys

from .. import announce, errors, fastio, framing, keyring, sizes, streamfmt
from . import clikit
from .argspec import Option
from .common import emit_json, need_stdin_stdout, run

PROG = "fernet-encrypt"
_UNITS = {"": 1, "k": 1024, "m": 1024**2}


def parse_size(text):
    m = re.fullmatch(r"\s*(\d+)\s*([kKmM]?)(?:i?[bB])?\s*", text or "")
    if not m:
        raise errors.UsageError(f"--frame-size: not a size: {text!r} (e.g. 1048576, 256K, 1M)")
    return int(m.group(1)) * _UNITS[m.group(2).lower()]


def _encrypt(key_file, config, frame_size, threads, summary, expected_size=None, announced=False):
    need_stdin_stdout()
    size = parse_size(frame_size)
    expected = sizes.parse_size(expected_size, "--expected-size")
    try:
        framing.check_frame_size(size)
    except ValueError as e:
        raise errors.UsageError(f"--frame-size: {e}") from None
    if os.isatty(1):
        raise errors.UsageError("refusing to write ciphertext to a terminal (redirect stdout)")
    key_id, key = keyring.load_keyring(key_file=key_file, config=config).active()
    src, dst = fastio.std_streams()
    if announced:
        src = announce.Reader(src.readinto)
        if expected is not None and expected != src.length:
            raise errors.UsageError(f"--expected-size {expected} disagrees with the announced length {src.length}")
        expected = src.length
    else:
        src = announce.Guard(src.readinto)
    result = streamfmt.encrypt_stream(src, dst, key_id, key, frame_size=size, threads=threads, length=expected)
    if summary:
        emit_json(dict(tool=PROG, **result), sys.stderr)
    return 0


def command(
    key_file: str | None = Option(None, "--key-file", help="File holding one urlsafe-base64 Fernet key "
                                  "(offline keys; key ID = its fingerprint)."),
    config: str | None = Option(None, "--config", envvar=keyring.CONFIG_ENV, metavar="PREFIX",
                                help="SSM config prefix; the active key is PREFIX's fernet key version."),
    frame_size: str = Option("1M", "--frame-size", help="Plaintext bytes per frame (1..64M)."),
    threads: int = Option(streamfmt.default_threads(), "--threads", min=1, max=streamfmt.MAX_THREADS,
                          help="Frames sealed in parallel (output stays in order)."),
    summary: bool = Option(False, "--summary", help="Print one JSON line on stderr: key ID, bytes in/out, "
                           "frames, xxh3-128 of the plaintext."),
    expected_size: str | None = Option(None, "--expected-size", metavar="N",
                                       help="Exact input size (e.g. 12GiB): the stream is sealed only if "
                                       "exactly N bytes arrive, and its header records N."),
    announced: bool = Option(False, "--announced", help="Input starts with a length announcement "
                             "(`hdfs2s3kit cat --announce SRC`): like --expected-size with that length."),
):
    """Encrypt stdin to stdout as a stream of Fernet frames (constant memory).

    Every truncation, reordering or tampering is detected by fernet-decrypt. Without
    --expected-size/--announced an upstream that dies early looks like the end of the input.
    Exit codes: 0 ok, 2 usage, 65 input longer than announced or a bad announcement, 66 key file
    missing or no input, 74 I/O error or input shorter than announced (the stream is then not
    sealed, so s3-put-sts aborts), 78 no key config."""
    # site_policy: only the SSM route (no --key-file) reads it (config.resolve_prefix)
    return run(PROG, clikit.like_cat(_encrypt), key_file, config, frame_size, threads, summary, expected_size,
               announced, site_policy=not key_file)


def main():
    clikit.filter_main(command, PROG)


if __name__ == "__main__":
    main()
