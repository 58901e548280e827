"""Everyday CLI parity, through the real commands: versions, help at 80 columns,
verbosity, errors that name their cause, quiet SIGPIPE, progress on a real
pseudo-terminal, bandwidth limit."""

import json
import os
import pty
import re
import subprocess

import pytest
from harness.proc import cmd_path, run

from hdfs2s3kit import __version__
from test_transfer_support import BUCKET, records

FILTERS = ("fernet-encrypt", "fernet-decrypt", "s3-put-sts", "s3-get-sts", "authz-check", "notify")
SUBCOMMANDS = ("transfer", "verify", "map", "job", "cat", "cleanup", "report", "demo", "config push",
               "config show", "keys list", "keys create")
NO_REGION = {"AWS_REGION": "", "AWS_DEFAULT_REGION": "", "AWS_CONFIG_FILE": os.devnull,
             "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y",
             # loopback only: nothing may leave this machine even when a check goes wrong
             "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_EC2_METADATA_DISABLED": "true"}


def test_every_command_prints_its_version():
    for name in FILTERS:
        r = run(name, "--version")
        assert r.returncode == 0 and r.stdout.decode() == f"{name} (hdfs2s3kit) {__version__}\n", name
    r = run("hdfs2s3kit", "--version")
    assert r.returncode == 0 and r.stdout.decode() == f"hdfs2s3kit {__version__}\n"


def test_help_fits_80_columns_with_real_metavars_and_every_command_has_the_verbosity_flags():
    env = {"COLUMNS": "80", "TERM": "dumb"}
    helps = [(n, run(n, "--help", env=env)) for n in FILTERS]
    helps += [(s, run("hdfs2s3kit", *s.split(), "--help", env=env)) for s in SUBCOMMANDS]
    for name, r in helps:
        text = r.stdout.decode()
        assert r.returncode == 0, name
        assert all(len(line) <= 80 for line in text.splitlines()), name
        assert "<str>" not in text and "<int" not in text and "…" not in text, name
        for flag in ("-q, --quiet", "-v, --verbose", "--debug", "--version"):
            assert flag in text, (name, flag)
    text = dict(helps)["s3-put-sts"].stdout.decode()
    assert "--part-size SIZE" in text and "--config PREFIX" in text and "--bwlimit RATE" in text
    text = dict(helps)["transfer"].stdout.decode()
    assert "--part-size SIZE" in text and "-j, --jobs N" in text and "--include GLOB" in text


def test_shell_completion_completes_commands_and_options():
    # what the script from `hdfs2s3kit --install-completion` asks the command itself
    env = {"_HDFS2S3KIT_COMPLETE": "complete_bash", "COMP_WORDS": "hdfs2s3kit tra", "COMP_CWORD": "1"}
    r = run("hdfs2s3kit", env=env)
    assert r.returncode == 0 and r.stdout.split() == [b"transfer"]
    env.update(COMP_WORDS="hdfs2s3kit transfer --dry", COMP_CWORD="2")
    assert run("hdfs2s3kit", env=env).stdout.split() == [b"--dry-run"]


@pytest.mark.parametrize("argv,stdin", [
    (("hdfs2s3kit", "transfer", "file:///etc/hostname", "--config", "/x"), None),
    (("hdfs2s3kit", "verify", "s3://kit-bucket/k", "--config", "/x"), None),
    (("hdfs2s3kit", "keys", "list", "--config", "/x"), None),
    (("fernet-encrypt", "--config", "/x"), b"data"),
    (("s3-put-sts", "s3://kit-bucket/k", "--no-assume-role"), b"data"),
], ids=["transfer", "verify", "keys-list", "fernet-encrypt", "s3-put-sts"])
def test_no_region_is_a_config_error_naming_the_variables(argv, stdin):
    r = run(*argv, input=stdin if stdin is not None else b"", env=NO_REGION)
    err = r.stderr.decode()
    assert r.returncode == 78, err
    assert "no AWS region" in err and "AWS_REGION" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2


def test_notify_says_why_it_exits_65():
    for data in (b"garbage\n", b""):
        r = run("notify", "--no-sns", "--no-metrics", input=data)
        assert r.returncode == 65
        assert re.search(rb"^notify: bad input: .*(not a JSON status record|without a complete status record)",
                         r.stderr, re.M), r.stderr


def test_authz_audit_on_stderr_is_json_lines_only(tmp_path):
    import grp

    f = tmp_path / "locked.csv"
    f.write_bytes(b"x")
    os.chown(f, -1, grp.getgrnam("nogroup").gr_gid)
    os.chmod(f, 0o640)
    r = run("authz-check", "--audit", f"file://{f}")
    assert r.returncode == 77
    recs = [json.loads(line) for line in r.stderr.decode().splitlines()]
    assert [x["decision"] for x in recs] == ["deny"]


def test_unreachable_endpoint_is_named(tmp_path):
    env = dict(NO_REGION, AWS_REGION="us-east-1")
    r = run("s3-put-sts", "s3://kit-bucket/k", "--no-assume-role", input=b"x", env=env)
    assert r.returncode == 69
    assert b"cannot reach the service at http://127.0.0.1:9" in r.stderr


def test_an_empty_config_prefix_names_the_region_searched(aws_env):
    r = run("hdfs2s3kit", "config", "show", "--config", "/nothing/here", env=aws_env)
    assert r.returncode == 78 and b"in region us-east-1" in r.stderr


def test_a_reader_that_closes_early_ends_the_producers_quietly_like_cat(kit, tmp_path):
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(3 << 20) * 4)
    r = kit.transfer(f"file://{src}", f"s3://{BUCKET}/big.bin")
    assert r.returncode == 0, r.stderr
    bindir = os.path.dirname(cmd_path("s3-get-sts"))
    script = (f"set -o pipefail; {bindir}/s3-get-sts --no-assume-role s3://{BUCKET}/big.bin "
              f"| {bindir}/fernet-decrypt | head -c 100 >/dev/null; echo \"rc=${{PIPESTATUS[*]}}\" >&2")
    p = subprocess.run(["bash", "-c", script], env=dict(os.environ, **kit.env), capture_output=True, timeout=120)
    err = p.stderr.decode()
    assert "broken pipe" not in err.lower() and "Traceback" not in err, err
    # like `cat`: killed by SIGPIPE (141) or done, never an error message of ours
    codes = err.strip().splitlines()[-1].split("=")[1].split()
    assert set(codes[:2]) <= {"0", "141"} and codes[2] == "0", err
    assert err.strip().splitlines() == [err.strip().splitlines()[-1]], err


def test_debug_shows_every_aws_call_with_attempt_and_time_and_no_secret(kit, tmp_path):
    src = tmp_path / "d.txt"
    src.write_bytes(b"debug me\n")
    r = kit.transfer(f"file://{src}", "--debug")
    assert r.returncode == 0, r.stderr
    err = r.stderr.decode()
    for op in ("ssm.GetParametersByPath", "sts.AssumeRole", "s3.HeadObject", "s3.PutObject"):
        assert re.search(rf"^aws: {re.escape(op)} .*attempt 1: 200 in \d+ ms$", err, re.M), (op, err)
    assert "testing" not in err and "SecretAccessKey" not in err and "SessionToken" not in err
    ssm_secret = kit.ssm.get_parameter(Name="/hdfs2s3/t/keys/fernet", WithDecryption=True)["Parameter"]["Value"]
    assert ssm_secret not in err


def test_quiet_prints_nothing_but_errors_and_verbose_one_line_per_file(kit, tmp_path):
    for n in range(3):
        (tmp_path / f"f{n}").write_bytes(b"x" * n)
    srcs = [f"file://{tmp_path}/f{n}" for n in range(3)]
    r = kit.transfer(*srcs, "-q")
    assert r.returncode == 0 and r.stderr == b"" and len(records(r.stdout)) == 3
    r = kit.transfer("--from-file", "-", "-v", input="".join(u + "\n" for u in srcs).encode())   # '-': stdin
    lines = r.stderr.decode().splitlines()
    assert r.returncode == 0
    assert sum(1 for ln in lines if re.match(r"^transfer: skipped file://.* -> s3://kit-bucket/in/", ln)) == 3


def _on_a_pty(argv, env, stdin):
    """Run argv with stderr on a real pseudo-terminal; -> (rc, stdout bytes, terminal text)."""
    master, slave = pty.openpty()
    with open(stdin, "rb") as f:
        p = subprocess.Popen(argv, stdin=f, stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    out, chunks = b"", []
    import threading

    t = threading.Thread(target=lambda: chunks.append(p.stdout.read()))
    t.start()
    while True:
        try:
            d = os.read(master, 65536)
        except OSError:
            break
        if not d:
            break
        out += d
    p.wait(120)
    t.join()
    os.close(master)
    return p.returncode, chunks[0], out.decode(errors="replace")


def test_progress_on_a_terminal_shows_total_percent_rate_eta_phases_and_clean_lines(kit, tmp_path):
    src = tmp_path / "p.bin"
    src.write_bytes(os.urandom(12 << 20))
    env = dict(os.environ, **kit.env)
    rc, out, tty = _on_a_pty([cmd_path("s3-put-sts"), f"s3://{BUCKET}/p.bin", "--no-assume-role",
                              "--part-size", "5MiB", "--bwlimit", "3MiB/s"], env, src)
    assert rc == 0, tty
    assert json.loads(out)["status"] == "ok"
    # every redraw erases the line first; the final line ends the line (the pty shows \n as \r\n)
    tty = tty.replace("\r\n", "\n")
    draws = tty.split("\r\x1b[K")
    assert draws[0] == "" and all("\r" not in d for d in draws)
    assert all(d == "" or not d.endswith("\n") for d in draws[:-1])
    assert draws[-1].endswith("\n")
    assert re.search(r"/12\.0 MiB \(\d+%\), [\d.]+ MiB/s, ETA \d+s", tty), tty
    assert "completing…" in tty and "verifying…" in tty
    assert re.search(r"12\.0 MiB in [\d.]+s \([\d.]+ MiB/s\), 3 parts\n$", tty), tty
    assert " 1 parts" not in tty


def test_transfer_progress_counts_source_bytes_and_an_interruption_gets_its_own_line(kit, tmp_path):
    src = tmp_path / "t.bin"
    src.write_bytes(os.urandom(10 << 20))
    env = dict(os.environ, **kit.env)
    master, slave = pty.openpty()
    p = subprocess.Popen([cmd_path("hdfs2s3kit"), "transfer", f"file://{src}", "--part-size", "5MiB",
                          "--bwlimit", "2MiB/s"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=slave, env=env)
    os.close(slave)
    tty = b""
    import select
    import signal
    import time

    deadline = time.monotonic() + 60
    while re.search(rb"[1-9][\d.]* MiB/s", tty) is None and time.monotonic() < deadline:
        if select.select([master], [], [], 1)[0]:
            try:
                tty += os.read(master, 65536)
            except OSError:      # the command ended already
                break
    p.send_signal(signal.SIGINT)
    while True:
        try:
            d = os.read(master, 65536)
        except OSError:
            break
        if not d:
            break
        tty += d
    p.wait(60)
    os.close(master)
    text = tty.decode(errors="replace")
    assert p.returncode == 130, (text, p.stdout.read())
    assert re.search(r"/10\.0 MiB \(\d+%\)", text), text       # the source's length, not the ciphertext's
    # the message starts a clean line: the progress line was erased just before it
    assert re.search(r"\r\x1b\[K(?:\r\x1b\[K)*transfer: interrupted by SIGINT", text), text
    assert not kit.open_uploads()


def test_job_dry_run_runs_every_mapper_as_a_dry_run():
    r = run("hdfs2s3kit", "job", "--input", "/user/etl/listing.txt", "--dest", "s3://b/p", "--dry-run", "--print")
    assert r.returncode == 0, r.stderr
    mapper = r.stdout.decode().split("-mapper", 1)[1]
    assert " map " in mapper and "--dry-run" in mapper
