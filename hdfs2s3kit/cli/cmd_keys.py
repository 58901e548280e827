"""`hdfs2s3kit keys create|list|rotate`: Fernet master keys as SSM SecureString versions."""

from typing import Optional

import typer

from .. import config, keys
from . import common

PREFIX_OPT = typer.Option(None, "--config", envvar=config.ENV_VAR, metavar="PREFIX",
                          help="SSM path prefix of the config, e.g. /hdfs2s3/prod.")


def _when(dt):
    return dt.astimezone().isoformat(timespec="seconds") if dt else "-"


def _create(prog, prefix, activate, kms_key_id):
    cfg = config.load_config(prefix, allow_empty=True)
    made = keys.create(cfg, activate=activate, kms_key_id=kms_key_id)
    for w in made.warnings:
        common.log(prog, f"warning: {w}")
    print(f"created {made.key.key_id}" + (" (active)" if made.activated else
                                          f" (not active; active is version {made.previous}: "
                                          "`hdfs2s3kit keys rotate` to switch)"))
    return 0


def _list(prog, prefix, as_json):
    rows = keys.list_keys(config.load_config(prefix, allow_empty=True))
    for k in rows:
        if as_json:
            common.emit_json({"key_id": k.key_id, "version": k.version, "created": _when(k.created),
                              "active": k.active, "labels": list(k.labels)})
        else:
            print(f"{k.key_id}  {_when(k.created)}  {'active' if k.active else '-'}")
    return 0


def _rotate(prog, prefix, version):
    cfg = config.load_config(prefix, allow_empty=True)
    k, previous = keys.rotate(cfg, version)
    if previous == k.version:
        print(f"{k.key_id} is already active")
    else:
        print(f"active key: {k.key_id}" + (f" (was version {previous})" if previous else ""))
    return 0


def register(app):
    sub = typer.Typer(help="Fernet master keys: versions of one SSM SecureString (key ID = name:version). "
                           "Key material is never printed.", no_args_is_help=True)
    app.add_typer(sub, name="keys")

    @sub.command("create", help="Generate a Fernet key and store it as a new version; it becomes active with "
                                "--activate or when no key is active yet.")
    def create(prefix: Optional[str] = PREFIX_OPT,
               activate: bool = typer.Option(False, "--activate", help="Make the new key the active one."),
               kms_key_id: Optional[str] = typer.Option(None, "--kms-key-id", help="KMS key for the SecureString.")):
        raise typer.Exit(common.run("hdfs2s3kit keys create", _create, "hdfs2s3kit keys create", prefix,
                                    activate, kms_key_id))

    @sub.command("list", help="Key IDs, creation times and which is active (never the key).")
    def list_(prefix: Optional[str] = PREFIX_OPT,
              as_json: bool = typer.Option(False, "--json", help="JSON lines.")):
        raise typer.Exit(common.run("hdfs2s3kit keys list", _list, "hdfs2s3kit keys list", prefix, as_json))

    @sub.command("rotate", help="Make VERSION (default: the newest) the active encrypting key. Older versions "
                                "stay readable, so old objects still decrypt.")
    def rotate(version: Optional[int] = typer.Argument(None, metavar="VERSION", min=1),
               prefix: Optional[str] = PREFIX_OPT):
        raise typer.Exit(common.run("hdfs2s3kit keys rotate", _rotate, "hdfs2s3kit keys rotate", prefix, version))
