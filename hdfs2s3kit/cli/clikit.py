"""What every command's option surface shares, added in one place:

- `--version`, `-q/--quiet`, `-v/--verbose`, `--debug` on every command,
  injected into the click command tree (they set process-wide state in
  `verbosity` and are not passed to the command functions);
- plain, 80-column help with real metavars (SIZE, PREFIX, ARN, N...) instead
  of typer's boxed tables, which cut long option names at 80 columns;
- `-h` as well as `--help`;
- the filters' fast path (`filter_main`): their options are declared with argspec, and an
  ordinary command line is parsed from those declarations without importing typer (~0.09
  CPU-s and ~7 MiB of a 0.12 CPU-s budget, issue 15); anything else (help, a usage error) is
  left to the typer command built from the same declarations, as before.

typer is imported only where a typer command is built, never at module level: the fast path
imports this module too.
"""

import sys

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


# The shared flags as the fast path reads them: flag -> name (polish adds the same to click).
SHARED = {"-q": "quiet", "--quiet": "quiet", "-v": "verbose", "--verbose": "verbose", "--debug": "debug",
          "--version": "version"}
_LEVELS = {"quiet": verbosity.QUIET, "verbose": verbosity.VERBOSE, "debug": verbosity.DEBUG}


def _raise_level(level):
    # the loudest flag given wins (--debug over -v over -q)
    if level > verbosity.level() or verbosity.level() == verbosity.NORMAL:
        verbosity.set_level(level)


def _set(level):
    def callback(ctx, _param, value):
        if value and not ctx.resilient_parsing:
            _raise_level(level)
        return value
    return callback


def _print_version(name):
    print(f"{name} {__version__}" if name == "hdfs2s3kit" else f"{name} (hdfs2s3kit) {__version__}")


def _version(ctx, _param, value):
    if value and not ctx.resilient_parsing:
        _print_version(ctx.find_root().info_name)
        ctx.exit(0)


def _borrowed_params(with_flags, with_version):
    """The shared flags as the parameter objects this typer version builds (typer >= 0.2x
    vendors its own click, whose classes do not mix with the real one's): declared on a
    throw-away command, then moved. expose_value=False: the real command never sees them."""
    import typer

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
    import typer

    kw.setdefault("add_completion", False)
    return typer.Typer(pretty_exceptions_enable=False, pretty_exceptions_show_locals=False, rich_markup_mode=None,
                       context_settings=CONTEXT, **kw)


def typed(fn):
    """fn as typer wants it: its argspec declarations replaced by the typer ones they stand for,
    and its return value (the exit status) raised as typer.Exit."""
    import functools
    import inspect

    import typer

    from .argspec import Param

    sig = inspect.signature(fn)

    @functools.wraps(fn)
    def command(**kwargs):
        raise typer.Exit(fn(**kwargs))

    command.__signature__ = sig.replace(parameters=[
        p.replace(default=p.default.typer()) if isinstance(p.default, Param) else p
        for p in sig.parameters.values()])
    return command


def single(fn, help=None, **kw):
    """A one-command app around fn (the filters): argspec declarations, returns the exit status."""
    a = app(**kw)
    a.command(context_settings=CONTEXT, help=help)(typed(fn))
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
    import typer

    cmd = polish(typer.main.get_command(typer_app))
    return cmd.main(args=sys.argv[1:], prog_name=prog)


def fast_parse(fn, argv):
    """argv -> (fn's keyword arguments, shared flags given), or None when click must parse it."""
    from . import argspec

    return argspec.parse(fn, argv, SHARED)


def filter_main(fn, prog, help=None):
    """Run the filter fn as `prog`: an ordinary command line straight from its declarations,
    anything else (-h, a usage error) through the typer command built from them, as before."""
    parsed = fast_parse(fn, sys.argv[1:])
    if parsed is None:
        return main(single(fn, help=help), prog)
    kwargs, shared = parsed
    if apply_shared(shared, prog):
        sys.exit(0)
    sys.exit(fn(**kwargs))


def apply_shared(shared, prog):
    """What click's eager callbacks do for the shared flags the fast path found: set the level
    (the loudest wins, in any order), print the version; True if it did (then exit 0)."""
    for name in shared:
        if name in _LEVELS:
            _raise_level(_LEVELS[name])
    if "version" in shared:
        _print_version(prog)
        return True
    return False
