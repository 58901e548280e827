"""`hdfs2s3kit demo`: the whole flow against a local AWS emulator; `make demo` runs it."""

import typer

from . import common


def register(app):
    @app.command("demo")
    def demo_cmd(
        keep: bool = typer.Option(False, "--keep", help="Leave the local AWS running (Ctrl-C stops it)."),
    ):
        """Start a local AWS (moto_server on 127.0.0.1), seed config, key, bucket, role and topic,
        transfer a few local files (one of them refused), verify them, and print a summary.
        Needs no AWS account and leaves nothing behind."""
        from .. import demo

        raise typer.Exit(common.run("demo", demo.run, keep))
