"""`hdfs2s3kit demo`: the whole flow against a local AWS emulator; `make demo` runs it."""

import typer

from . import common


HELP = (
    "The whole flow on this machine against a local AWS emulator; no AWS account needed.\n\n"
    "Starts moto_server on 127.0.0.1, seeds config, key, bucket, role and SNS topic, transfers a few "
    "local files (one of them refused), verifies them by decrypting, prints a summary and stops the "
    "server. Leaves nothing behind; run it as often as you like."
)


def register(app):
    @app.command("demo", help=HELP)
    def demo_cmd(
        keep: bool = typer.Option(False, "--keep", help="After the demo, block with the local AWS still running "
                                  "and print commands to try on it from another terminal; Ctrl-C stops it."),
        hadoop: bool = typer.Option(False, "--hadoop", help="The same story on a real HDFS + YARN (HADOOP_CONF_DIR, "
                                    "HADOOP_CMD, HADOOP_STREAMING_JAR), ending with a Streaming job; needs "
                                    "--aws-endpoint. `make demo-hadoop` sets it all up."),
        aws_endpoint: str = typer.Option(None, "--aws-endpoint", metavar="URL",
                                         help="Use this local emulator (127.0.0.1 only) instead of starting one."),
        archive: str = typer.Option("hdfs2s3kit-archive.tgz", "--archive", metavar="FILE",
                                    help="With --hadoop: the toolkit archive for the job (make archive)."),
    ):
        from .. import demo

        raise typer.Exit(common.run("demo", demo.run, keep, hadoop, aws_endpoint, archive))
