"""`hdfs2s3kit`: the umbrella command. Each sub-command lives in its own
module with a `register(app)` function, so one concern stays in one file."""

import importlib

import typer

from .common import install_signal_handlers

app = typer.Typer(
    name="hdfs2s3kit",
    help="Move files from HDFS into Amazon S3 safely: authorize, encrypt, upload, verify, report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

SUBCOMMANDS = (
    "cmd_config", "cmd_keys", "cmd_cat", "cmd_cleanup", "cmd_transfer", "cmd_verify",
    "cmd_map", "cmd_job", "cmd_report", "cmd_demo",
)

for _name in SUBCOMMANDS:
    importlib.import_module(f"{__package__}.{_name}").register(app)


def main():
    install_signal_handlers()
    app()


if __name__ == "__main__":
    main()
