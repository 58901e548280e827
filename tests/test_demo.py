"""`hdfs2s3kit demo` (what `make demo` runs): works with no AWS account, twice in a row,
and leaves no server, group or files behind."""

import os
import re
import socket
import subprocess
import sys

import pytest

BIN = os.path.dirname(sys.executable)
GROUP = "h2s3demo-payroll"


def run_demo(env=None, runner=None, bindir=BIN):
    e = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "HDFS2S3_CONFIG"}
    e.update(env or {})
    argv = [os.path.join(bindir, "hdfs2s3kit"), "demo"]
    if runner is not None:
        return runner(argv, e)
    return subprocess.run(argv, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)


def _endpoint(out):
    return re.search(r"AWS_ENDPOINT_URL=http://127\.0\.0\.1:(\d+)", out)


def _port_closed(port):
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", port)) != 0


def _group_exists(name):
    import grp

    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def check_demo_output(r):
    out = r.stdout.decode()
    assert r.returncode == 0, out[-3000:] + r.stderr.decode()[-2000:]
    m = _endpoint(out)
    assert m, "the demo must say which local endpoint it used"
    row = re.compile(r"^\s+(\S+)\s+(\d*)\s+(ok|denied)\s+(\S+)\s+(\S+)\s+[\d.]+\s+(ok|-)\s*$", re.M)
    rows = {f: (b, st, kid, dig, v) for f, b, st, kid, dig, v in row.findall(out)}
    assert set(rows) == {"q3-report.csv", "empty.log", "clickstream.bin", "payroll.csv"}
    for name in ("q3-report.csv", "empty.log", "clickstream.bin"):
        b, st, kid, dig, v = rows[name]
        assert (st, kid, v) == ("ok", "/hdfs2s3/demo/keys/fernet:1", "ok")
        assert re.fullmatch(r"[0-9a-f]{32}", dig)
    assert int(rows["clickstream.bin"][0]) > 2 * 1024 * 1024
    assert rows["payroll.csv"][1] == "denied"
    assert "denial (exit 77)" in out
    assert "q3-report.csv: skipped, empty.log: skipped, clickstream.bin: skipped" in out
    assert re.search(r"verify: mismatch \(exit 65\): .*belong to another stream", out)
    assert "What to try next" in out
    assert _port_closed(int(m.group(1))), "moto_server still running after the demo"
    return out


def test_demo_runs_twice_and_leaves_nothing_behind(tmp_path):
    before = set(os.listdir("/tmp"))
    first = check_demo_output(run_demo())
    check_demo_output(run_demo())   # the second run must look the same
    assert not [d for d in set(os.listdir("/tmp")) - before if d.startswith("hdfs2s3-demo-")]
    if os.geteuid() == 0:
        assert f"group-owned by {GROUP}" in first
        assert not _group_exists(GROUP), "the demo's group was left behind"


def test_demo_as_an_ordinary_user_shows_the_denial_through_allowed_groups(linux_users):
    if not os.access(os.path.join(linux_users.bindir, "moto_server"), os.X_OK):
        pytest.skip("the venv the test users can run has no moto_server (test extras)")
    user = linux_users.user("demo", groups=("extra",))
    r = run_demo(runner=lambda argv, env: linux_users.run(user, argv, env=env, timeout=600),
                 bindir=linux_users.bindir)
    out = check_demo_output(r)
    # the user's extra group grants nothing once allowed_groups names only its primary group
    assert f"group {linux_users.group('extra')} is not in allowed_groups={linux_users.group('demopg')}" in out
    assert "not an allowed group" in out


def test_demo_as_a_user_with_a_single_group_still_shows_a_denial(linux_users):
    if not os.access(os.path.join(linux_users.bindir, "moto_server"), os.X_OK):
        pytest.skip("the venv the test users can run has no moto_server (test extras)")
    user = linux_users.user("solo")
    r = run_demo(runner=lambda argv, env: linux_users.run(user, argv, env=env, timeout=600),
                 bindir=linux_users.bindir)
    out = check_demo_output(r)
    assert f"allowed_groups=finance, and {user} is only in {linux_users.group('solopg')}" in out
