"""bin/hdfs2s3-pipe: the transfer as a pipeline of the filters; right exit status, never a partial object."""

import os
import subprocess
import sys

import pytest

from harness.proc import alive, descendants
from test_transfer_support import BUCKET, PIPE, records

BIN = os.path.dirname(sys.executable)
# `hadoop fs -cat` that dies midway: the real FsShell's bytes, cut short, then a failure exit.
FAILING_HADOOP = """#!/bin/bash
if [ "$1" = fs ] && [ "$2" = -cat ]; then
  "{real}" "$@" | head -c {cut}
  echo "cat: Connection reset by peer (test: reader killed midway)" >&2
  exit 1
fi
exec "{real}" "$@"
"""


def pipe(kit, src, dest, env=None):
    e = dict(kit.env, PATH=BIN + os.pathsep + os.environ.get("PATH", ""), **(env or {}))
    return subprocess.run([PIPE, src, dest], env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)


def test_pipe_uploads_a_file_that_decrypts_to_the_source(kit, tmp_path):
    data = os.urandom(300_000)
    src = tmp_path / "p.bin"
    src.write_bytes(data)
    r = pipe(kit, f"file://{src}", f"s3://{BUCKET}/pipe/p.bin")
    assert r.returncode == 0, r.stderr
    (rec,) = records(r.stdout)
    assert rec["status"] == "ok" and rec["key"] == "pipe/p.bin" and rec["framed"] is True
    assert kit.decrypt("pipe/p.bin") == data
    meta = kit.s3.head_object(Bucket=BUCKET, Key="pipe/p.bin")["Metadata"]
    assert meta["h2s3-src"] == f"file://{src}" and meta["h2s3-format"] == "2"
    assert meta["h2s3-src-length"] == str(len(data))


def test_pipe_stops_at_a_denied_source_and_uploads_nothing(kit, tmp_path):
    kit.set_config("allowed_groups", "h2s-no-such-company-group")
    src = tmp_path / "d.csv"
    src.write_bytes(b"secret")
    r = pipe(kit, f"file://{src}", f"s3://{BUCKET}/pipe/d.csv")
    assert r.returncode == 77
    assert b"not an allowed group" in r.stderr
    assert kit.objects() == [] and kit.open_uploads() == []


def test_pipe_with_a_missing_source_exits_66(kit, tmp_path):
    r = pipe(kit, f"file://{tmp_path}/absent", f"s3://{BUCKET}/pipe/absent")
    assert r.returncode == 66
    assert kit.objects() == []


def test_pipe_refuses_a_source_that_looks_like_an_option(kit):
    r = pipe(kit, "-rf", f"s3://{BUCKET}/x")
    assert r.returncode == 2
    assert r.stderr.decode().startswith("hdfs2s3-pipe: refusing source that starts with '-'")


def test_pipe_reads_hdfs_through_the_real_hadoop_client(kit, hadoop, hdfs_dir):
    hpath, local = hdfs_dir
    data = os.urandom(2_000_000)
    (local / "events.bin").write_bytes(data)
    r = pipe(kit, f"{hpath}/events.bin", f"s3://{BUCKET}/pipe/events.bin", env=hadoop.env())
    assert r.returncode == 0, r.stderr
    assert kit.decrypt("pipe/events.bin") == data


def test_pipe_with_hadoop_cat_failing_midway_exits_nonzero_and_leaves_no_object(kit, hadoop, hdfs_dir, tmp_path):
    hpath, local = hdfs_dir
    (local / "big.bin").write_bytes(os.urandom(20 << 20))
    wrapper = tmp_path / "hadoop-failing"
    wrapper.write_text(FAILING_HADOOP.format(real=hadoop.cmd, cut=11 << 20))   # past the first 8 MiB part
    wrapper.chmod(0o755)
    r = pipe(kit, f"{hpath}/big.bin", f"s3://{BUCKET}/pipe/big.bin", env={"HADOOP_CMD": str(wrapper)})
    assert r.returncode == 74, r.stderr
    err = r.stderr.decode()
    assert "hadoop fs -cat failed" in err
    assert f"hdfs2s3-pipe: reading {hpath}/big.bin failed (exit 74); upload aborted, nothing stored" in err
    assert kit.objects() == []
    assert kit.open_uploads() == []


def test_the_unprotected_plain_pipeline_stores_the_truncated_file(kit, hadoop, hdfs_dir, tmp_path):
    # Why the README names this form unprotected: the same failing reader without a length
    # announcement ends in a clean EOF, a sealed stream and a completed (short) object.
    hpath, local = hdfs_dir
    (local / "big.bin").write_bytes(os.urandom(3 << 20))
    wrapper = tmp_path / "hadoop-failing"
    wrapper.write_text(FAILING_HADOOP.format(real=hadoop.cmd, cut=1 << 20))
    wrapper.chmod(0o755)
    e = dict(kit.env, PATH=BIN + os.pathsep + os.environ.get("PATH", ""), HADOOP_CMD=str(wrapper))
    r = subprocess.run(["bash", "-c", 'hdfs2s3kit cat "$1" | fernet-encrypt | s3-put-sts "$2"', "-",
                        f"{hpath}/big.bin", f"s3://{BUCKET}/naive"], env=e, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=300)
    assert b"hadoop fs -cat failed" in r.stderr
    assert kit.objects() == ["naive"]
    assert len(kit.decrypt("naive")) == 1 << 20


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP"])
def test_pipe_sigterm_mid_upload_exits_143_and_leaves_nothing(kit, hadoop, hdfs_dir, tmp_path, sig):
    import signal

    from harness.hadoop import sigterm_once_an_upload_is_open, stalling_hadoop

    hpath, local = hdfs_dir
    (local / "big.bin").write_bytes(os.urandom(12 << 20))
    e = dict(kit.env, PATH=BIN + os.pathsep + os.environ.get("PATH", ""),
             HADOOP_CMD=stalling_hadoop(hadoop, tmp_path, 11 << 20))
    signum = getattr(signal, sig)
    rc, _out, err = sigterm_once_an_upload_is_open([PIPE, f"{hpath}/big.bin", f"s3://{BUCKET}/pipe/big.bin"],
                                                   e, kit.open_uploads, sig=signum)
    assert rc == 128 + signum, err
    assert err.decode().rstrip().endswith(f"hdfs2s3-pipe: interrupted by {sig}; upload aborted, nothing stored")
    assert kit.objects() == [] and kit.open_uploads() == []


def test_pipe_help_shows_the_pipeline_and_wrong_arguments_are_a_usage_error():
    h = subprocess.run([PIPE, "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert h.returncode == 0
    assert (b"authz-check SRC && hdfs2s3kit cat --announce SRC | fernet-encrypt --announced | s3-put-sts DEST "
            b"| notify") in h.stdout
    u = subprocess.run([PIPE, "only-one"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert u.returncode == 2 and u.stderr.startswith(b"hdfs2s3-pipe: usage: ")


def test_the_protected_plain_pipeline_stores_nothing_when_the_reader_fails(kit, hadoop, hdfs_dir, tmp_path):
    # No wrapper script at all: the announced length alone keeps the short stream unsealed.
    hpath, local = hdfs_dir
    (local / "big.bin").write_bytes(os.urandom(3 << 20))
    wrapper = tmp_path / "hadoop-failing"
    wrapper.write_text(FAILING_HADOOP.format(real=hadoop.cmd, cut=1 << 20))
    wrapper.chmod(0o755)
    e = dict(kit.env, PATH=BIN + os.pathsep + os.environ.get("PATH", ""), HADOOP_CMD=str(wrapper))
    r = subprocess.run(["bash", "-c", 'hdfs2s3kit cat --announce "$1" | fernet-encrypt --announced | '
                        's3-put-sts "$2"; echo "${PIPESTATUS[*]}" >&2', "-", f"{hpath}/big.bin",
                        f"s3://{BUCKET}/guarded"], env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    err = r.stderr.decode()
    assert err.rstrip().endswith("74 74 74"), err
    assert "input ended after 1048576 of the expected 3145728 bytes: not sealing the stream" in err
    (rec,) = records(r.stdout)
    assert rec["status"] == "truncated" and rec["aborted"] is False and rec["object_exists"] is False
    assert kit.objects() == [] and kit.open_uploads() == []


def test_pipe_messages_agree_with_the_record_when_the_reader_fails_after_its_last_byte(kit, hadoop, hdfs_dir,
                                                                                        tmp_path):
    hpath, local = hdfs_dir
    data = os.urandom(1 << 20)
    (local / "whole.bin").write_bytes(data)
    wrapper = tmp_path / "hadoop-late-failure"
    wrapper.write_text(FAILING_HADOOP.format(real=hadoop.cmd, cut=2 << 20))   # every byte, then exit 1
    wrapper.chmod(0o755)
    r = pipe(kit, f"{hpath}/whole.bin", f"s3://{BUCKET}/pipe/whole.bin", env={"HADOOP_CMD": str(wrapper)})
    (rec,) = records(r.stdout)
    assert r.returncode == 0 and rec["status"] == "ok", r.stderr
    err = r.stderr.decode()
    assert "after every byte arrived; the object was stored whole" in err and "nothing stored" not in err
    assert kit.decrypt("pipe/whole.bin") == data


# Reads its first CUT bytes, then waits for the test's word (after the pipe script is dead) and fails.
FAILING_AFTER_WORD_HADOOP = """#!/bin/bash
if [ "$1" = fs ] && [ "$2" = -cat ]; then
  "{real}" "$@" | head -c {cut}
  while [ ! -e "{word}" ]; do sleep 0.1; done
  echo "cat: Connection reset by peer (test: reader failed after the pipe script died)" >&2
  exit 1
fi
exec "{real}" "$@"
"""


def test_a_pipe_whose_script_is_killed_before_its_reader_fails_stores_nothing(kit, hadoop, hdfs_dir, tmp_path):
    # The fault run's case: with the bash script SIGKILLed (no trap, no clean-up of its own) and then
    # the reader failing, the filters left behind must still refuse the short stream on their own.
    import signal
    import time

    hpath, local = hdfs_dir
    (local / "big.bin").write_bytes(os.urandom(20 << 20))
    word = tmp_path / "reader-may-fail-now"
    wrapper = tmp_path / "hadoop-failing-on-word"
    wrapper.write_text(FAILING_AFTER_WORD_HADOOP.format(real=hadoop.cmd, cut=11 << 20, word=word))
    wrapper.chmod(0o755)
    e = dict(kit.env, PATH=BIN + os.pathsep + os.environ.get("PATH", ""), HADOOP_CMD=str(wrapper))
    with open(tmp_path / "out", "wb") as out, open(tmp_path / "err", "wb") as err:
        p = subprocess.Popen([PIPE, f"{hpath}/big.bin", f"s3://{BUCKET}/pipe/orphaned.bin"], env=e,
                             stdout=out, stderr=err)
    deadline = time.monotonic() + 120
    while not kit.open_uploads():       # a part is on its way: the upload is open
        assert p.poll() is None and time.monotonic() < deadline, (tmp_path / "err").read_text()
        time.sleep(0.2)
    left = descendants(p.pid)
    assert len(left) >= 3, left          # reader, encryptor, uploader (and their helpers)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    word.touch()
    while any(alive(c) for c in left):
        assert time.monotonic() < deadline, f"still running without the script: {left}; " \
                                            f"{(tmp_path / 'err').read_text()}"
        time.sleep(0.2)
    err = (tmp_path / "err").read_text()
    assert "input ended after 11534336 of the expected 20971520 bytes: not sealing the stream" in err, err
    assert kit.objects() == [] and kit.open_uploads() == [], err
