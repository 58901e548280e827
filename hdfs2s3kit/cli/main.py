"""`hdfs2s3kit`: the umbrella command. Each sub-command lives in its own
module with a `register(app)` function, so one concern stays in one file."""

import importlib

from . import clikit
from .common import install_signal_handlers

# add_completion: `hdfs2s3kit --install-completion` / `--show-completion` (bash, zsh, fish).
app = clikit.app(
    name="hdfs2s3kit",
    help="Move files from HDFS into Amazon S3 safely: authorize, encrypt, upload, verify, report.",
    no_args_is_help=True,
    add_completion=True,
)

SUBCOMMANDS = (
    "cmd_config", "cmd_keys", "cmd_cat", "cmd_ls", "cmd_cleanup", "cmd_transfer", "cmd_verify",
    "cmd_map", "cmd_job", "cmd_report", "cmd_demo",
)

for _name in SUBCOMMANDS:
    importlib.import_module(f"{__package__}.{_name}").register(app)


def main():
    install_signal_handlers()
    clikit.main(app, "hdfs2s3kit")


if __name__ == "__main__":
    main()
