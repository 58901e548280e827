"""No plaintext on disk: `transfer` and bin/hdfs2s3-pipe under strace open nothing for writing
outside /dev and /proc, for file:// sources and for HDFS read through the real Hadoop client (whose
JVM the harness runs with -XX:-UsePerfData, so it keeps no hsperfdata file in /tmp)."""

import os
import re
import shutil
import subprocess
import sys

import pytest

from test_transfer_support import BUCKET, PIPE, records

STRACE = shutil.which("strace") or "/usr/bin/strace"
BIN = os.path.dirname(sys.executable)
_OPEN = re.compile(r'^(?:\[pid\s+)?(\d+)\]?\s*(open|openat|creat)\((?:[^,]*, )?"((?:[^"\\]|\\.)*)"(?:, ([A-Z_|]+))?.*\)\s*=\s*(-?\d+)')
_WRITE_FLAGS = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND", "O_TMPFILE")



def _strace_problem():
    if not os.access(STRACE, os.X_OK):
        return "strace not installed (make test installs it)"
    r = subprocess.run([STRACE, "-f", "-qq", "-e", "trace=openat", "-o", os.devnull, "true"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode:
        return f"strace cannot trace here: {r.stderr.decode(errors='replace').strip()[:200]}"
    return None


_PROBLEM = _strace_problem()
pytestmark = pytest.mark.skipif(_PROBLEM is not None, reason=str(_PROBLEM))


def opened_for_writing(log):
    """[(call, path, flags)] for every successful open/openat/creat that could write."""
    out = []
    for line in log.splitlines():
        m = _OPEN.match(line)
        if not m:
            continue
        _pid, call, path, flags, rc = m.groups()
        if int(rc) < 0:
            continue
        if call == "creat" or any(f in (flags or "") for f in _WRITE_FLAGS):
            out.append((call, path, flags))
    return out


def outside_dev_proc(entries):
    return [e for e in entries if not (e[1].startswith("/dev/") or e[1].startswith("/proc/"))]


def traced(kit, tmp_path, argv):
    log = tmp_path / "strace.log"
    env = dict(kit.env, PATH=BIN + os.pathsep + os.environ.get("PATH", ""),
               # bytecode caches are not data, and whether one is due depends on who ran what first
               PYTHONDONTWRITEBYTECODE="1")
    r = subprocess.run([STRACE, "-f", "-qq", "-e", "trace=open,openat,creat", "-o", str(log), *argv],
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    return r, log.read_text(errors="replace")


@pytest.fixture
def secret_file(tmp_path):
    src = tmp_path / "plain" / "payroll.csv"
    src.parent.mkdir()
    data = b"name,salary\n" + b"".join(b"person%05d,%d\n" % (i, i * 37) for i in range(60000))  # ~1.3 MiB
    src.write_bytes(data)
    return src, data


def test_parser_sees_a_write_open_when_there_is_one(kit, tmp_path):
    # The check must be able to fail: a command that does write a file is caught.
    r, log = traced(kit, tmp_path, ["sh", "-c", f"echo leak > {tmp_path}/leak.txt"])
    assert r.returncode == 0
    assert [e[1] for e in outside_dev_proc(opened_for_writing(log))] == [f"{tmp_path}/leak.txt"]


def test_transfer_writes_no_file_outside_dev_and_proc(kit, tmp_path, secret_file):
    src, data = secret_file
    r, log = traced(kit, tmp_path, [os.path.join(BIN, "hdfs2s3kit"), "transfer", f"file://{src}"])
    assert r.returncode == 0, r.stderr
    (rec,) = records(r.stdout)
    assert kit.decrypt(rec["key"]) == data
    assert f'"{src}", O_RDONLY' in log, "strace did not see the source being read: is it tracing?"
    assert outside_dev_proc(opened_for_writing(log)) == []


def test_pipe_script_writes_no_file_outside_dev_and_proc(kit, tmp_path, secret_file):
    src, data = secret_file
    r, log = traced(kit, tmp_path, [PIPE, f"file://{src}", f"s3://{BUCKET}/pipe/payroll.csv"])
    assert r.returncode == 0, r.stderr
    assert kit.decrypt("pipe/payroll.csv") == data
    assert f'"{src}", O_RDONLY' in log, "strace did not follow the pipeline's processes"
    assert outside_dev_proc(opened_for_writing(log)) == []


def test_transfer_from_hdfs_writes_no_file_outside_dev_and_proc(kit, tmp_path, hadoop, hdfs_dir):
    # The real Hadoop client as the reader: its stderr goes to a pipe, never a temporary file.
    hpath, local = hdfs_dir
    data = b"id,iban\n" + b"".join(b"%06d,DE%020d\n" % (i, i * 7919) for i in range(40000))
    (local / "accounts.csv").write_bytes(data)
    env_path = dict(hadoop.env())
    log = tmp_path / "strace.log"
    env = dict(kit.env, PATH=BIN + os.pathsep + os.environ.get("PATH", ""), PYTHONDONTWRITEBYTECODE="1",
               **env_path)
    r = subprocess.run([STRACE, "-f", "-qq", "-e", "trace=open,openat,creat", "-o", str(log),
                        os.path.join(BIN, "hdfs2s3kit"), "transfer", f"{hpath}/accounts.csv"],
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    assert r.returncode == 0, r.stderr
    (rec,) = records(r.stdout)
    assert kit.decrypt(rec["key"]) == data
    text = log.read_text(errors="replace")
    assert "org.apache.hadoop.fs.FsShell" in text or "java" in text, "strace did not follow the JVM"
    # the test harness's launch counter is the wrapper's own bookkeeping, not the toolkit's
    writes = [e for e in outside_dev_proc(opened_for_writing(text)) if e[1] != str(hadoop.count_file)]
    assert writes == []
