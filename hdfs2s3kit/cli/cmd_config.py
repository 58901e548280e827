"""`hdfs2s3kit config push|show|check`: the SSM config, from template to doctor."""

import sys
from typing import Optional

import typer

from .. import config, config_admin, errors
from . import common

PREFIX_OPT = typer.Option(None, "--config", envvar=config.ENV_VAR, metavar="PREFIX",
                          help="SSM path prefix of the config, e.g. /hdfs2s3/prod.")
JSON_OPT = typer.Option(False, "--json", help="JSON instead of a table.")
MAX_TEMPLATE = 1024 * 1024


def _table(rows):
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths)) + "  " + str(r[-1]) for r in rows)


def _push(prog, prefix, file, dry_run, yes, allow_unknown, kms_key_id):
    if file.startswith("-") and file != "-":
        raise errors.UsageError(f"refusing a FILE that looks like an option: {file!r} (use ./{file})")
    try:
        if file == "-":
            raw = sys.stdin.buffer.read(MAX_TEMPLATE + 1)
        else:
            with open(file, "rb") as f:
                raw = f.read(MAX_TEMPLATE + 1)
        text = raw.decode("utf-8")
    except OSError as e:
        raise errors.NoInputError(f"cannot read {file}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise errors.ConfigError(f"{file}: not UTF-8 text, not a KEY=VALUE template") from None
    if len(raw) > MAX_TEMPLATE:
        raise errors.ConfigError(f"{file}: larger than {MAX_TEMPLATE} bytes, not a KEY=VALUE template")
    ssm, prefix, changes = config_admin.prepare_push(prefix, text, source=file, allow_unknown=allow_unknown)
    todo = [c for c in changes if c.action != "same"]
    risky = [c for c in todo if c.action in ("change", "remove")]
    counts = ", ".join(f"{sum(c.action == a for c in changes)} to {a}" for a in ("add", "change", "remove"))
    print(f"config {prefix}: {counts}, {len(changes) - len(todo)} unchanged")
    for c in todo:
        print(c.line())
    if dry_run or not todo:
        print("dry run: nothing written" if dry_run else "nothing to do")
        return 0
    if risky and not yes:
        if file == "-" or not sys.stdin.isatty():
            raise errors.UsageError(f"would overwrite or remove {len(risky)} existing value(s): "
                                    "pass --yes to apply, or --dry-run to only show the diff")
        if not typer.confirm(f"apply {len(todo)} change(s) to {prefix}?"):
            common.log(prog, "nothing written")
            return 1
    n = config_admin.apply(ssm, prefix, todo, kms_key_id=kms_key_id)
    print(f"wrote {n} change(s) to {prefix}")
    return 0


def _show(prog, prefix, as_json):
    cfg = config.load_config(prefix)
    if cfg.prefix is None:
        raise config.no_config_error()
    rows = config_admin.show_rows(cfg)
    if as_json:
        common.emit_json({"prefix": cfg.prefix, "values": {n: v for n, v, _ in rows}, "missing": cfg.missing()})
    else:
        print(f"config {cfg.prefix}")
        print(_table([("key", "value", "note")] + rows))
    if cfg.missing():
        raise errors.ConfigError(f"config {cfg.prefix}: missing required value(s): {', '.join(cfg.missing())}")
    return 0


def _check(prog, prefix, as_json):
    cfg = config.load_config(prefix)
    if cfg.prefix is None:
        raise config.no_config_error()
    rows = config_admin.check(cfg)
    if as_json:
        for name, ok, detail in rows:
            common.emit_json({"check": name, "ok": ok, "detail": detail})
    else:
        print(_table([("check", "result", "detail")] + [(n, "ok" if ok else "FAIL", d) for n, ok, d in rows]))
    failed = [n for n, ok, _ in rows if not ok]
    if failed:
        raise errors.ConfigError(f"config {cfg.prefix}: {len(failed)} check(s) failed: {', '.join(failed)}")
    return 0


def register(app):
    sub = typer.Typer(help="The SSM config: push a KEY=VALUE template, show it (secrets masked), check it.",
                      no_args_is_help=True)
    app.add_typer(sub, name="config")

    @sub.command("push", help="Upload a KEY=VALUE template (see config.env.example) under the prefix; "
                              "secrets as SecureString. Shows the diff first; an empty value removes a key.")
    def push(file: str = typer.Argument(..., metavar="FILE", help="Template file, or - for stdin."),
             prefix: Optional[str] = PREFIX_OPT,
             dry_run: bool = typer.Option(False, "--dry-run", help="Show the diff, write nothing."),
             yes: bool = typer.Option(False, "--yes", "-y", help="Overwrite/remove existing values without asking."),
             allow_unknown: bool = typer.Option(False, "--allow-unknown", help="Store undocumented keys too."),
             kms_key_id: Optional[str] = typer.Option(None, "--kms-key-id", help="KMS key for SecureStrings.")):
        raise typer.Exit(common.run("hdfs2s3kit config push", _push, "hdfs2s3kit config push", prefix, file,
                                    dry_run, yes, allow_unknown, kms_key_id))

    @sub.command("show", help="Print the resolved config, secrets masked; exit 78 naming missing values.")
    def show(prefix: Optional[str] = PREFIX_OPT, as_json: bool = JSON_OPT):
        raise typer.Exit(common.run("hdfs2s3kit config show", _show, "hdfs2s3kit config show", prefix, as_json))

    @sub.command("check", help="Try every value for real (role, bucket, topic, active key, namespace, "
                               "region) and print an ok/FAIL table; exit 78 if any fails.")
    def check(prefix: Optional[str] = PREFIX_OPT, as_json: bool = JSON_OPT):
        raise typer.Exit(common.run("hdfs2s3kit config check", _check, "hdfs2s3kit config check", prefix, as_json))
