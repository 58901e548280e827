"""`fernet-decrypt`: a streaming Fernet stream on stdin -> plaintext on stdout."""

import sys

from .. import fastio, keyring, streamfmt
from . import clikit
from .argspec import Option
from .common import emit_json, need_stdin_stdout, run

PROG = "fernet-decrypt"


def _decrypt(key_file, config, threads, summary):
    need_stdin_stdout()
    ring = keyring.load_keyring(key_file=key_file, config=config)
    src, dst = fastio.std_streams()
    result = streamfmt.decrypt_stream(src, dst, ring, threads=threads)
    if summary:
        emit_json(dict(tool=PROG, **result), sys.stderr)
    return 0


def command(
    key_file: str | None = Option(None, "--key-file", help="File holding the urlsafe-base64 Fernet key."),
    config: str | None = Option(None, "--config", envvar=keyring.CONFIG_ENV, metavar="PREFIX",
                                help="SSM config prefix; the key is the version named in the stream."),
    threads: int = Option(streamfmt.default_threads(), "--threads", min=1, max=streamfmt.MAX_THREADS,
                          help="Frames opened in parallel (output stays in order)."),
    summary: bool = Option(False, "--summary", help="Print one JSON line on stderr: key ID, bytes in/out, "
                           "frames, xxh3-128 of the plaintext."),
):
    """Decrypt stdin to stdout, writing only authenticated plaintext.

    Any truncation, tampering, reordering or wrong key exits 65 with one line naming the failure; frames
    before the failure may already be written, so always check the exit status.
    Exit codes: 0 ok, 2 usage, 65 bad data, 66 key file missing, 78 no key config, 74 I/O error."""
    # site_policy: only the SSM route (no --key-file) reads it (config.resolve_prefix)
    return run(PROG, clikit.like_cat(_decrypt), key_file, config, threads, summary, site_policy=not key_file)


def main():
    clikit.filter_main(command, PROG)


if __name__ == "__main__":
    main()
