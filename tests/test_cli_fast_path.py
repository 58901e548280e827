"""The filters' fast command-line path (cli/argspec.py, clikit.filter_main, issue 15) against click.

- differential: for every filter and many command lines (good, bad, and random ones from the
  filter's own flags and awkward values), the fast path either declines or yields exactly the
  keyword arguments (types included), verbosity level and --version output that the typer
  command built from the same declarations gives;
- the fast path does serve the ordinary command lines (declining everything would pass the
  above and bring the 0.1 CPU-s of typer back);
- a real filter run imports neither typer nor click;
- help and usage errors are byte for byte what click printed before the fast path existed
  (tests/vectors/cli_before.json).
"""

import contextlib
import importlib
import inspect
import io
import json
import os
import subprocess
import sys

import pytest
from harness.proc import cmd_path
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hdfs2s3kit import keyring, streamfmt, verbosity
from hdfs2s3kit.cli import clikit

HERE = os.path.dirname(os.path.abspath(__file__))
MODULES = {"fernet-encrypt": "fernet_encrypt", "fernet-decrypt": "fernet_decrypt", "s3-put-sts": "s3_put_sts",
           "s3-get-sts": "s3_get_sts", "authz-check": "authz_check", "notify": "notify"}
URL = "s3://b/k"

# Ordinary command lines: the fast path must take every one of these.
GOOD = {
    "fernet-encrypt": [[], ["--key-file", "k"], ["--key-file=k", "--threads", "2", "--summary", "-q"],
                       ["--frame-size", "256K", "--expected-size", "12GiB", "--announced", "--debug"],
                       ["--config", "pfx/", "-v", "--threads=64"], ["--key-file", "-"], ["--version"],
                       ["--key-file", "a", "--key-file", "b", "--"], ["--config", ""]],
    "fernet-decrypt": [[], ["--key-file", "k"], ["--threads", "1", "--summary", "--verbose", "--quiet"],
                       ["--config=x", "--debug", "-q"]],
    "s3-put-sts": [[URL], ["--no-assume-role", "--no-progress", URL], ["--", URL],
                   ["--role-arn", "arn:aws:iam::1:role/r", URL, "--framed", "--tag", "a=b", "--tag", "c=d",
                    "--metadata", "x=y", "--concurrency", "64", "--session-duration", "900"],
                   ["--raw", "--framed", "--raw", URL, "--overwrite", "--progress"],
                   ["--expected-size=12GiB", "--part-size", "16MiB", "--checksum-algorithm", "CRC32C",
                    "--storage-class", "GLACIER_IR", "--sse", "kms", "--sse-kms-key-id", "alias/k",
                    "--bwlimit", "20MiB/s", "--config", "pfx", URL, "-v"], ["--version", URL]],
    "s3-get-sts": [["--no-assume-role", "--no-progress", URL], [URL, "--version-id", "v1", "--chunk-size=1MiB",
                                                                  "--summary", "--concurrency", "1"],
                   ["--session-duration", "43200", "--assume-role", URL, "--debug"]],
    "authz-check": [[], ["file:///x"], ["-0", "--audit", "--user", "bob", "/a", "/b"],
                    ["--policy", "group", "--", "-weird", "--audit"], ["/a", "--null", "/b", "-", "--config", "p"]],
    "notify": [[], ["--topic-arn", "arn:aws:sns:r:1:t", "--pipeline", "bench"],
               ["--max-each", "0", "--no-sns", "--no-metrics", "--strict", "--on", "failure", "-q"],
               ["--config=pfx", "--max-each=7"]],
}

# Command lines click refuses, or reads in ways the fast path leaves to it.
AWKWARD = [["-h"], ["--help"], ["--bogus"], ["--summ"], ["--key"], ["--summary=1"], ["--threads"], ["--threads", "0"],
           ["--threads", "65"], ["--threads", "x"], ["--threads", "+1"], ["--threads", " 1"], ["--threads", "1_0"],
           ["--threads", "-1"], ["--threads=-1"], ["-qv"], ["-q0"], ["-vq", URL], ["extra"], [URL, URL],
           ["--concurrency", "65", URL], ["--concurrency", "0", URL], ["--session-duration", "10", URL],
           ["--max-each", "-1"], ["--max-each", "x"], ["--config", "--summary"], ["--config", "-q"],
           ["--key-file", "--", "x"], ["-"], ["--", "-"], ["--", "--version"], ["--version", "--bogus"],
           ["--version", "--threads", "0"], ["-x"], ["--user"], ["--no-raw", URL], ["--framed=1", URL],
           ["--tag", URL], ["--", URL, URL], ["--0"], ["-0=1"], ["--null=x"], ["---x"], ["=x"], [""],
           ["--help", URL], ["--progress=yes", URL], ["--no-framed", URL], ["--metadata=a=b", URL]]

VALUES = ["0", "1", "2", "7", "64", "65", "900", "3600", "43200", "99999", "-1", "+1", " 1", "1_0", "x", "", "-",
          "--", URL, "s3://c/d", "file:///tmp/x", "a=b", "1M", "-qv", "-q0", "--=x", "=", "-h", "--help"]
ENVS = [None, "", "pfx/"]        # $HDFS2S3_CONFIG: unset, empty (click ignores it), set


def module(prog):
    return importlib.import_module(f"hdfs2s3kit.cli.{MODULES[prog]}")


_commands = {}


def click_command(prog):
    """The polished click command filter_main falls back to, its function replaced by one that
    records the keyword arguments typer would pass -> (command, the record)."""
    if prog not in _commands:
        import typer

        mod, got = module(prog), {}

        def capture(**kwargs):
            got.clear()
            got.update(kwargs)
            return 0

        capture.__signature__ = inspect.signature(mod.command)
        capture.__annotations__ = mod.command.__annotations__
        cmd = clikit.polish(typer.main.get_command(clikit.single(capture, help=getattr(mod, "HELP", None))))
        _commands[prog] = (cmd, got)
    return _commands[prog]


@contextlib.contextmanager
def fresh_state(config_env):
    """A verbosity of NORMAL and the given $HDFS2S3_CONFIG; both restored after."""
    saved = {k: os.environ.get(k) for k in (verbosity.ENV_VAR, keyring.CONFIG_ENV)}
    saved_level = verbosity.level()
    try:
        os.environ.pop(verbosity.ENV_VAR, None)
        verbosity.set_level(verbosity.NORMAL)
        if config_env is None:
            os.environ.pop(keyring.CONFIG_ENV, None)
        else:
            os.environ[keyring.CONFIG_ENV] = config_env
        yield
    finally:
        verbosity.set_level(saved_level)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def typed(kwargs):
    return {k: (type(v).__name__, v) for k, v in kwargs.items()}


def by_click(prog, argv, config_env):
    """-> ("call", typed kwargs, level) | ("version", text) | ("refused",) as click reads argv."""
    cmd, got = click_command(prog)
    got.clear()
    out = io.StringIO()
    with fresh_state(config_env), contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        try:
            cmd.main(args=list(argv), prog_name=prog, standalone_mode=False)
        except Exception as e:        # a usage error: click's own exception types
            if "UsageError" not in [c.__name__ for c in type(e).__mro__]:
                raise
            return ("refused",)
        except SystemExit:
            return ("refused",)
        level = verbosity.level()
    if got:
        return ("call", typed(got), level)
    if "(hdfs2s3kit)" in out.getvalue():
        return ("version", out.getvalue())
    return ("refused",)              # help printed


def by_fast_path(prog, argv, config_env):
    """-> as by_click, or None when the fast path declines."""
    mod = module(prog)
    out = io.StringIO()
    with fresh_state(config_env), contextlib.redirect_stdout(out):
        parsed = clikit.fast_parse(mod.command, list(argv))
        if parsed is None:
            return None
        kwargs, shared = parsed
        if clikit.apply_shared(shared, prog):
            return ("version", out.getvalue())
        return ("call", typed(kwargs), verbosity.level())


def check_same(prog, argv, config_env=None):
    fast = by_fast_path(prog, argv, config_env)
    if fast is not None:
        assert fast == by_click(prog, argv, config_env), (prog, argv, config_env)
    return fast


@pytest.mark.parametrize("prog", sorted(MODULES))
def test_the_fast_path_takes_ordinary_command_lines_and_reads_them_as_click_does(prog):
    for argv in GOOD[prog]:
        for env in ENVS:
            assert check_same(prog, argv, env) is not None, (prog, argv, env)


@pytest.mark.parametrize("prog", sorted(MODULES))
def test_awkward_command_lines_are_declined_or_read_as_click_does(prog):
    for argv in AWKWARD + [a + GOOD[prog][-1] for a in AWKWARD[:12]]:
        check_same(prog, argv)
    # what click refuses, the fast path never accepts
    for argv in AWKWARD:
        if by_click(prog, argv, None) == ("refused",):
            assert by_fast_path(prog, argv, None) is None, (prog, argv)


def _argvs(prog):
    """Command lines built from the filter's own parameters (each option with a value, flags,
    positional words) with some noise between: valid ones often, nearly valid ones more often."""
    cmd, _ = click_command(prog)
    values = st.sampled_from(VALUES)
    pieces, flags = [], []
    for p in cmd.params:
        opts = [o for o in (*getattr(p, "opts", ()), *getattr(p, "secondary_opts", ())) if o.startswith("-")]
        flags += opts
        if p.param_type_name == "argument":
            pieces.append(st.one_of(st.just(URL), values).map(lambda v: [v]))
        elif p.is_flag:
            pieces.append(st.sampled_from(opts).map(lambda o: [o]))
        else:
            pieces.append(st.builds(lambda o, v, eq: [f"{o}={v}"] if eq else [o, v], st.sampled_from(opts), values,
                                    st.booleans()))
    cut = st.builds(lambda f, n: f[:n], st.sampled_from([f for f in flags if f.startswith("--")]),
                    st.integers(3, 12))
    noise = st.one_of(values, cut).map(lambda t: [t])
    chunk = st.one_of(*pieces)
    return st.lists(st.one_of(chunk, chunk, chunk, noise), max_size=8).map(lambda parts: sum(parts, []))


@pytest.mark.parametrize("prog", sorted(MODULES))
def test_random_command_lines_are_declined_or_read_as_click_does(prog):
    @settings(max_examples=200, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(_argvs(prog), st.sampled_from(ENVS))
    def check(argv, env):
        check_same(prog, argv, env)

    check()


def test_the_fast_path_declines_a_declaration_it_does_not_know():
    from hdfs2s3kit.cli.argspec import Option, parse

    def fn(n: int = Option(0, "--n", callback=print)):
        return 0

    def fine(n: int = Option(0, "--n")):
        return 0

    assert parse(fn, ["--n", "1"]) is None and parse(fine, ["--n", "1"]) == ({"n": 1}, [])


# ---------------------------------------------------------------- the real commands

def _runs(tmp_path):
    """prog -> (argv, stdin bytes, exit status): a run of each filter that gets past its command line
    and ends quickly without the network."""
    from cryptography.fernet import Fernet

    key = tmp_path / "k"
    key.write_bytes(Fernet.generate_key())
    key.chmod(0o600)
    cipher = subprocess.run([cmd_path("fernet-encrypt"), "--key-file", str(key)], input=b"x",
                            stdout=subprocess.PIPE, check=True).stdout
    return {
        "fernet-encrypt": (["--key-file", str(key), "--threads", "1"], b"x", 0),
        "fernet-decrypt": (["--key-file", str(key), "-q"], cipher, 0),
        "authz-check": ([f"file://{key}"], b"", 0),
        "s3-put-sts": (["--no-progress", "s3://bucket/"], b"x", 2),      # no key: our usage error
        "s3-get-sts": (["--no-assume-role", "--concurrency", "2", "s3://"], b"", 2),
        "notify": (["--no-sns", "--no-metrics"], b"", 65),               # no record: upstream crashed
    }


@pytest.mark.parametrize("prog", sorted(MODULES))
def test_a_filter_run_imports_neither_typer_nor_click(prog, tmp_path):
    argv, stdin, rc = _runs(tmp_path)[prog]
    env = dict(os.environ, AWS_ENDPOINT_URL="http://127.0.0.1:9", AWS_EC2_METADATA_DISABLED="true",
               AWS_REGION="us-east-1", AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="y")
    env.pop(keyring.CONFIG_ENV, None)
    r = subprocess.run([sys.executable, "-X", "importtime", cmd_path(prog), *argv], input=stdin,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=tmp_path, timeout=120)
    err = r.stderr.decode()
    imported = {line.rsplit("|", 1)[-1].strip() for line in err.splitlines() if line.startswith("import time:")}
    assert r.returncode == rc, err[-2000:]
    assert "hdfs2s3kit.cli.argspec" in imported                 # the probe sees our imports
    assert not {m for m in imported if m.split(".")[0] in ("typer", "click")}, prog
    # and help still goes through typer
    r = subprocess.run([sys.executable, "-X", "importtime", cmd_path(prog), "--help"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, env=env, timeout=120)
    assert r.returncode == 0 and "| typer" in r.stderr.decode()


def _before():
    with open(os.path.join(HERE, "vectors", "cli_before.json")) as f:
        return json.load(f)["cases"]


@pytest.mark.parametrize("case", _before(), ids=lambda c: " ".join(c["argv"]) or "-")
def test_help_and_usage_errors_are_what_click_printed_before(case, tmp_path):
    env = dict(os.environ, COLUMNS="80", TERM="dumb")
    env.pop(keyring.CONFIG_ENV, None)
    env.pop(verbosity.ENV_VAR, None)
    r = subprocess.run([cmd_path(case["argv"][0]), *case["argv"][1:]], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path, timeout=120)
    threads = str(streamfmt.default_threads())
    assert (r.returncode, r.stdout.decode(), r.stderr.decode()) == (
        case["rc"], case["stdout"].replace("{threads}", threads), case["stderr"])
