"""Reading from a real HDFS (the mini cluster): `hdfs2s3kit cat`, `transfer` and bin/hdfs2s3-pipe
from hdfs:// and bare paths, byte-exact; a DataNode that goes away mid-read fails the run (74)
and leaves nothing in S3.

Tier: the real HDFS client failing for a real reason (the only replica's DataNode stopped). The
same contracts against a reader cut short by a wrapper script are in test_hdfs_source.py and
test_pipe.py (emulation, faster).
"""

import os
import signal
import subprocess
import sys
import time

import pytest

from harness.moto import nothing_left
from test_transfer_support import BUCKET, KEY_PREFIX, PIPE, records

BIN = os.path.dirname(sys.executable)
MiB = 1 << 20
BIG = 64 * MiB     # far more than pipes, socket buffers and one part hold: most is unread when the DataNode goes


def _env(mc, kit=None):
    env = dict(os.environ, **(kit.env if kit else {}), **mc.env())
    env["PATH"] = BIN + os.pathsep + env.get("PATH", "")
    return env


@pytest.fixture
def on_datanode_1(minicluster, hdfs_home, tmp_path):
    """A BIG file whose only replica is on DataNode 1; DataNode 1 is running again afterwards."""
    data = os.urandom(BIG)
    local = tmp_path / "big.bin"
    local.write_bytes(data)
    path = f"{hdfs_home}/big.bin"
    minicluster.put_on(1, str(local), path)
    local.unlink()
    stopped = []
    yield path, data, lambda: (minicluster.stop_datanode(1), stopped.append(1))
    if stopped:
        minicluster.restart_datanode(1)


def _freeze_then_stop(proc, stop_datanode):
    """Freeze the whole pipeline (its process group: the readers' JVMs too), take the DataNode
    away, thaw: whatever the client has not fetched yet is gone."""
    os.killpg(proc.pid, signal.SIGSTOP)
    try:
        stop_datanode()
    finally:
        os.killpg(proc.pid, signal.SIGCONT)


def _wait_for(cond, proc, timeout=120):
    deadline = time.monotonic() + timeout
    while not cond():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.mark.parametrize("form", ["hdfs-uri", "bare"])
def test_cat_from_real_hdfs_is_byte_exact(minicluster, hdfs_home, tmp_path, form):
    data = os.urandom(3 * MiB + 17)
    local = tmp_path / "f.bin"
    local.write_bytes(data)
    minicluster.su_fs("-put", str(local), f"{hdfs_home}/f.bin")
    src = minicluster.uri(f"{hdfs_home}/f.bin") if form == "hdfs-uri" else f"{hdfs_home}/f.bin"
    r = subprocess.run([os.path.join(BIN, "hdfs2s3kit"), "cat", src], env=_env(minicluster),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout == data


def test_transfer_from_hdfs_uri_stores_exactly_the_file(kit, minicluster, hdfs_home, tmp_path):
    data = os.urandom(2 * MiB + 5)
    local = tmp_path / "t.bin"
    local.write_bytes(data)
    minicluster.su_fs("-put", str(local), f"{hdfs_home}/t.bin")
    src = minicluster.uri(f"{hdfs_home}/t.bin")
    r = kit.transfer(src, env=minicluster.env())
    assert r.returncode == 0, r.stderr
    (rec,) = records(r.stdout)
    assert rec["status"] == "ok" and rec["src_bytes"] == len(data)
    assert rec["key"] == f"{KEY_PREFIX}{hdfs_home}/t.bin"
    assert kit.decrypt(rec["key"]) == data


def test_datanode_stopped_mid_cat_exits_74(minicluster, on_datanode_1):
    path, data, stop = on_datanode_1
    p = subprocess.Popen([os.path.join(BIN, "hdfs2s3kit"), "cat", path], env=_env(minicluster),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    head = p.stdout.read(MiB)
    assert head == data[:MiB]
    _freeze_then_stop(p, stop)
    rest = p.stdout.read()
    err = p.stderr.read().decode()
    assert p.wait(120) == 74, err
    assert MiB + len(rest) < len(data)
    (line,) = err.splitlines()
    assert line.startswith(f"hdfs2s3kit cat: reading {path}: hadoop fs -cat failed (exit 1): "), line
    assert "Could not obtain block" in line      # HDFS's own reason, in one line


def test_datanode_stopped_mid_transfer_exits_74_and_leaves_nothing(kit, minicluster, on_datanode_1):
    path, _data, stop = on_datanode_1
    p = subprocess.Popen([os.path.join(BIN, "hdfs2s3kit"), "transfer", path], env=_env(minicluster, kit),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    _wait_for(kit.open_uploads, p)           # parts are going up
    _freeze_then_stop(p, stop)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 74, err
    (rec,) = records(out)
    assert rec["status"] != "ok" and rec["exit_code"] == 74
    assert "hadoop fs -cat failed" in rec["error"]
    assert nothing_left(kit.s3, BUCKET, f"{KEY_PREFIX}{path}")


def test_datanode_stopped_mid_pipe_exits_74_and_leaves_nothing(kit, minicluster, on_datanode_1):
    path, _data, stop = on_datanode_1
    key = "pipe/big.bin"
    p = subprocess.Popen([PIPE, path, f"s3://{BUCKET}/{key}"], env=_env(minicluster, kit),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    _wait_for(kit.open_uploads, p)
    _freeze_then_stop(p, stop)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 74, err
    assert f"hdfs2s3-pipe: reading {path} failed (exit 74); upload aborted, nothing stored" in err.decode()
    assert nothing_left(kit.s3, BUCKET, key)
