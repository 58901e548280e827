"""What every command's option surface shares, added in one place:

- `--version`, `-q/--quiet`, `-v/--verbose`, `--debug` on every command,
  injected into the click command tree (they set process-wide state in
  `verbosity` and are not passed to the command functions);
- plain, 80-column help with real metavars (SIZE, PREFIX, ARN, N...) instead
  of typer's boxed tables, which cut long option names at 80 columns;
- `-h` as well as `--help`.
"""

import sys

import typer

from .. import __version__, verbosity

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 80}

# option name -> metavar; names not listed get one from their last word.
METAVARS = {
    "--config": "PREFIX", "--role-arn": "ARN", "--session-duration": "SECONDS", "--concurrency": "N",
    "--threads": "N", "--jobs": "N", "--batch": "N", "--heartbeat": "SECONDS", "--part-size": "SIZE",
    "--chunk-size": "SIZE", "--expected-size": "SIZE", "--frame-size": "SIZE", "--bwlimit": "RATE",
    "--from-file": "LISTING", "--key-file": "FILE", "--notify": "MODE", "--on": "MODE",
    "--input": "LISTING", "--dest": "s3://BUCKET/PREFIX", "--manifests": "s3://BUCKET/PREFIX",
    "--output": "DIR", "--run-id": "RUN_ID", "--lines-per-map": "N", "--task-timeout": "SECONDS",
    "--max-attempts": "N", "--older-than": "AGE", "--user": "USER", "--policy": "POLICY",
    "--include": "GLOB", "--exclude": "GLOB", "--tag": "K=V", "--metadata": "K=V", "--sse": "MODE",
    "--storage-class": "CLASS", "--sse-kms-key-id": "KMS_KEY", "--kms-key-id": "KMS_KEY",
    "--version-id": "VERSION", "--checksum-algorithm": "ALGO", "--engine": "ENGINE",
    "--python": "PATH", "--streaming-jar": "JAR", "--spark-submit": "PATH", "--master": "URL",
    "--queue": "QUEUE", "--region": "REGION", "--topic-arn": "ARN", "--pipeline": "NAME",
    "--max-each": "N", "--archive": "FILE", "--against": "SRC",
}


def _set(level):
    def callback(ctx, _param, value):
        if value and not ctx.resilient_parsing:
            # the loudest flag given wins (--debug over -v over -q)
            if level > verbosity.level() or verbosity.level() == verbosity.NORMAL:
                verbosity.set_level(level)
        return value
    return callback


def _version(ctx, _param, value):
    if value and not ctx.resilient_parsing:
        name = ctx.find_root().info_name
        print(f"{name} {__version__}" if name == "hdfs2s3kit" else f"{name} (hdfs2s3kit) {__version__}")
        ctx.exit(0)


def _borrowed_params(with_flags, with_version):
    """The shared flags as the parameter objects this typer version builds (typer >= 0.2x
    vendors its own click, whose classes do not mix with the real one's): declared on a
    throw-away command, then moved. expose_value=False: the real command never sees them."""
    def flags(
        quiet: bool = typer.Option(False, "-q", "--quiet", is_eager=True, expose_value=False,
                                   callback=_set(verbosity.QUIET),
                                   help="Errors only on stderr (no progress, summaries or warnings)."),
        verbose: bool = typer.Option(False, "-v", "--verbose", is_eager=True, expose_value=False,
                                     callback=_set(verbosity.VERBOSE), help="One line per file on stderr."),
        debug: bool = typer.Option(False, "--debug", is_eager=True, expose_value=False,
                                   callback=_set(verbosity.DEBUG),
                                   help="Also every AWS call: each attempt, its outcome and time (no secrets)."),
        # Not named `version`: click stores values by parameter name, so a command's own
        # `version` argument (keys rotate VERSION) would trip this eager callback.
        show_version: bool = typer.Option(False, "--version", is_eager=True, expose_value=False, callback=_version,
                                     help="Print the version and exit."),
    ):
        pass

    a = typer.Typer(add_completion=False)
    a.command()(flags)
    params = typer.main.get_command(a).params
    return [p for p in params
            if (p.name == "show_version" and with_version) or (p.name != "show_version" and with_flags)]


def _metavar_for(param):
    name = max(param.opts, key=len)
    if name in METAVARS:
        return METAVARS[name]
    return name.lstrip("-").rsplit("-", 1)[-1].upper()


def polish(cmd, top=True):
    """Give cmd (and its sub-commands) the shared flags, metavars and help settings."""
    cmd.context_settings = {**CONTEXT, **(cmd.context_settings or {})}
    names = {o for p in cmd.params for o in getattr(p, "opts", ())}
    group = hasattr(cmd, "commands")
    for sub in getattr(cmd, "commands", {}).values():
        polish(sub, top=False)
    cmd.params.extend(_borrowed_params(with_flags=not group and not names & {"-q", "-v", "--debug"},
                                       with_version="--version" not in names))
    for p in cmd.params:
        kind = getattr(p, "param_type_name", "")
        if kind == "option" and not getattr(p, "is_flag", False) and p.metavar is None:
            p.metavar = _metavar_for(p)
        elif kind == "argument":
            mv = p.metavar or p.name.upper()
            p.metavar = mv
            # typer >= 0.20 decorates arguments ({X}, "<str>"); the metavar says it all
            p.display_type_rich = lambda ctx: None
            p._usage_display_name = (lambda mv=mv, p=p: mv if p.required else f"[{mv}]")
    return cmd


def app(**kw):
    """A Typer app with the shared settings: plain help, no pretty tracebacks (they could print locals)."""
    kw.setdefault("add_completion", False)
    return typer.Typer(pretty_exceptions_enable=False, pretty_exceptions_show_locals=False, rich_markup_mode=None,
                       context_settings=CONTEXT, **kw)


def single(fn, **kw):
    """A one-command app around fn (the filters)."""
    a = app(**kw)
    a.command(context_settings=CONTEXT)(fn)
    return a


def die_of_sigpipe():
    """End the way `cat` ends when its reader went away (`| head`): by SIGPIPE, silently,
    status 141. Only for the byte filters (fernet-*, s3-get-sts, cat): they create nothing,
    so nothing is left half-done. SIGPIPE itself stays ignored until here (signals.py: a
    reset socket must stay a retryable error), so only stdout's EPIPE gets us here."""
    import os
    import signal

    sys.stdout.flush = lambda: None        # the interpreter's last flush must not say more
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGPIPE)


def like_cat(fn):
    """fn, with a closed stdout ending the process like `cat` (die_of_sigpipe)."""
    def wrapped(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except BrokenPipeError:
            die_of_sigpipe()
    return wrapped


def main(typer_app, prog):
    """Build the click command, polish it, run it as `prog`."""
    cmd = polish(typer.main.get_command(typer_app))
    return cmd.main(args=sys.argv[1:], prog_name=prog)
