"""The filters' options, declared without importing typer, and the small parser that reads
an ordinary command line from those declarations (issue 15).

`import typer` alone costs ~0.09 CPU-s and ~7 MiB RSS, most of a filter's 0.12 CPU-s start-up
budget. So a filter declares each option once, as `Option(...)`/`Argument(...)` here (the
same arguments as `typer.Option`/`typer.Argument`), and `clikit.filter_main` first tries
`parse`: it understands the plain forms (`--x v`, `--x=v`, flags, `--a/--b` pairs, repeated
list options, ints within min/max, an envvar fallback, positional arguments anywhere, `--`)
and returns the values typer would pass. Anything else -- `-h`, an unknown or abbreviated
option, a missing or extra argument, a bad or out-of-range int, `-qv` -- it declines (None),
and the command is built with typer (`Param.typer`) and parsed by click as before, so help
and usage errors are click's own. tests/test_cli_fast_path.py holds the two to the same values.
"""

import os

# Keyword arguments whose meaning parse() fully knows (the rest only change help text).
# A declaration with any other (callback, count, is_eager, ...) makes parse() decline.
_UNDERSTOOD = {"min", "max", "envvar", "help", "metavar", "show_default", "hidden"}


class Param:
    """One declaration, kept as given: (default, *decls, **kw) of typer.Option/Argument."""

    kind = None

    def __init__(self, default=..., *decls, **kw):
        self.default, self.decls, self.kw = default, decls, kw

    def typer(self):
        """The typer declaration this stands for (imports typer: only for the slow path)."""
        import typer

        return getattr(typer, self.kind)(self.default, *self.decls, **self.kw)


class Option(Param):
    kind = "Option"


class Argument(Param):
    kind = "Argument"


class Decline(Exception):
    """Not a command line parse() is sure about: let click have it."""


def _shape(ann):
    """An annotation -> (base type, is_list); Decline for any other than str/int/bool,
    optionally Optional[...], and List[str]. Both spellings read alike: `X | None`
    (types.UnionType) and `list[str]` (types.GenericAlias) carry the same __args__ and
    __origin__ as typing's Optional[X] and List[str], and the filters use the builtin ones
    so that a run never imports typing (~5 ms, issue 15)."""
    args = getattr(ann, "__args__", None)
    if args is not None and type(None) in args:          # Optional[X] or X | None
        rest = [a for a in args if a is not type(None)]
        if len(rest) != 1:
            raise Decline
        ann = rest[0]
        args = getattr(ann, "__args__", None)
    if args is not None:
        if getattr(ann, "__origin__", None) is not list or args != (str,):
            raise Decline
        return str, True
    if ann not in (str, int, bool):
        raise Decline
    return ann, False


class _Opt:
    __slots__ = ("name", "type", "multiple", "default", "min", "max", "envvar")


def _spec(fn):
    """fn's parameters as (options by flag -> (_Opt, flag value or None), positional _Opts)."""
    code = fn.__code__
    names = code.co_varnames[:code.co_argcount]
    defaults = fn.__defaults__ or ()
    if len(defaults) != len(names):
        raise Decline
    flags, positional = {}, []
    for name, decl in zip(names, defaults):
        if not isinstance(decl, Param) or set(decl.kw) - _UNDERSTOOD:
            raise Decline
        o = _Opt()
        o.name, o.default = name, decl.default
        o.type, o.multiple = _shape(fn.__annotations__.get(name, str))
        o.min, o.max, o.envvar = decl.kw.get("min"), decl.kw.get("max"), decl.kw.get("envvar")
        if isinstance(decl, Argument):
            if decl.decls or o.type is not str or o.envvar:
                raise Decline
            positional.append(o)
            continue
        # typer's names when none are given: --param-name (a bool: --param-name/--no-param-name)
        dashed = name.replace("_", "-")
        decls = decl.decls or ((f"--{dashed}/--no-{dashed}",) if o.type is bool else (f"--{dashed}",))
        if o.type is bool:
            if o.multiple or o.envvar:
                raise Decline
            for d in decls:
                on, _, off = d.partition("/")
                if not off and o.default is not False and o.default is not None:
                    raise Decline             # click's flag_value would be `not default`
                flags[on] = (o, True)
                if off:
                    flags[off] = (o, False)
        else:
            if o.multiple and (o.envvar or o.default is None):
                raise Decline
            for d in decls:
                if "/" in d:
                    raise Decline
                flags[d] = (o, None)
    if len(positional) > 1 and any(p.multiple for p in positional):
        raise Decline
    for flag in flags:
        if not flag.startswith("-") or flag in ("-", "--") or (not flag.startswith("--") and len(flag) != 2):
            raise Decline
    return flags, positional


def _convert(o, text):
    if o.type is int:
        if not (text.isascii() and text.isdigit()):   # click's int() also takes "+1", " 1", "1_0"
            raise Decline
        n = int(text)
        if (o.min is not None and n < o.min) or (o.max is not None and n > o.max):
            raise Decline
        return n
    return text


def parse(fn, argv, shared=None):
    """argv for fn -> (keyword arguments, the `shared` flags given, in order), or None.

    shared: flag -> name of flags that are not fn's parameters (clikit's -q/-v/--debug/--version).
    Positional arguments may come anywhere, as click allows; `--` ends the options."""
    try:
        return _parse(fn, argv, shared or {})
    except Decline:
        return None


def _parse(fn, argv, shared):
    flags, positional = _spec(fn)
    if set(flags) & set(shared):
        raise Decline
    given, words, seen = {}, [], []
    args = iter(argv)
    for a in args:
        if a == "--":
            words.extend(args)
            break
        if a[:1] != "-" or a == "-":
            words.append(a)
            continue
        if a in shared:
            if shared[a] not in seen:
                seen.append(shared[a])
            continue
        flag, eq, value = a.partition("=") if a.startswith("--") else (a, "", "")
        if flag not in flags:
            raise Decline                         # -h, --help, unknown, abbreviated, -qv, -jN
        o, flag_value = flags[flag]
        if flag_value is not None:
            if eq:
                raise Decline                     # --summary=1: click's error
            given[o.name] = flag_value
            continue
        if not eq:
            value = next(args, None)
            # click would take "--x" as the value; say so via its own rules, not ours
            if value is None or (value[:1] == "-" and value != "-"):
                raise Decline
        value = _convert(o, value)
        if o.multiple:
            given.setdefault(o.name, []).append(value)
        else:
            given[o.name] = value                 # the last one wins, as in click
    kwargs = {}
    for o in {id(o): o for o, _ in flags.values()}.values():
        if o.name in given:
            kwargs[o.name] = given[o.name]
            continue
        env = os.environ.get(o.envvar) if o.envvar else None
        if env:                                    # click ignores an empty variable
            kwargs[o.name] = _convert(o, env)
        elif o.default is ...:
            raise Decline                          # a required option: click says so
        else:
            kwargs[o.name] = list(o.default) if o.multiple else o.default
    for o in positional:
        if o.multiple:
            if not words and o.default is ...:
                raise Decline                      # at least one is required
            kwargs[o.name] = words or (None if o.default is None else list(o.default))
            words = []
        elif words:
            kwargs[o.name] = words.pop(0)
        elif o.default is ...:
            raise Decline                          # missing argument
        else:
            kwargs[o.name] = o.default
    if words:
        raise Decline                              # unexpected extra arguments
    return kwargs, seen
