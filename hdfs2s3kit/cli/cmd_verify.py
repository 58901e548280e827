"""`hdfs2s3kit verify s3://BUCKET/KEY [--against SRC]`: prove an object holds what the source held."""

from typing import Optional

import typer

from . import common


def _run(url, against, threads, **kw):
    from .. import transfer, verify

    rec = verify.verify(url, transfer.Setup(**kw), against=against, threads=threads)
    common.emit_json(rec)
    if rec["status"] != "ok":
        common.log("verify", rec["error"])
    return rec["exit_code"]


HELP = (
    "Prove an object holds exactly what the source held: download, decrypt, check.\n\n"
    "Checks every frame, the final frame's length and xxh3-128 digest, and the stream ID, length and "
    "key ID the object's metadata records; --against also re-reads the source and compares. "
    "Plaintext is hashed, never stored. One JSON record on stdout. Exit 65 naming the mismatch, 66 "
    "no such object."
)


def register(app):
    @app.command("verify", help=HELP)
    def verify_cmd(
        url: str = typer.Argument(..., metavar="s3://BUCKET/KEY", help="The object to check."),
        against: Optional[str] = typer.Option(None, "--against", metavar="SRC",
                                              help="Also re-read this source and compare length and digest."),
        config: Optional[str] = typer.Option(None, "--config", help="SSM config prefix (default $HDFS2S3_CONFIG)."),
        key_file: Optional[str] = typer.Option(None, "--key-file", help="Offline Fernet key file instead of SSM."),
        role_arn: Optional[str] = typer.Option(None, "--role-arn", help="Role to assume (default: config role_arn)."),
        assume_role: bool = typer.Option(True, "--assume-role/--no-assume-role", help="Use STS AssumeRole."),
        threads: Optional[int] = typer.Option(None, "--threads", help="Decryption threads."),
    ):
        raise typer.Exit(common.run("verify", _run, url, against, threads, config_prefix=config,
                                    key_file=key_file, role_arn=role_arn, assume_role=assume_role))
