"""The batched re-check (binding, groupcommit) against a real NameNode: `transfer` of many HDFS
files re-checks them all after their reads with one `-stat`, not one JVM per file; a file whose
group, mode or length changed between its read and its completion is aborted alone (no object,
no open upload) while the others land; a signal while completions wait leaves nothing open.

The client is the cluster's own `hadoop` behind a wrapper that logs each subcommand and, for
the files a test names, holds the end of their `-cat` until the test has changed them (as the
superuser, inside the launcher's JVM: no launch of its own)."""

import os
import signal
import subprocess
import threading
import time

from harness import proc
from harness.moto import nothing_left
from test_transfer_support import BUCKET, KEY_PREFIX, records

MiB = 1 << 20

WRAPPER = """#!/bin/bash
# test: log the subcommand; after the -cat of a file marked change-NAME, wait for the test to change it
printf '%s\\n' "$2" >> {log}
if [ "$1" = fs ] && [ "$2" = -cat ]; then
  "{real}" "$@"
  rc=$?
  name=$(basename "$3")
  if [ -e "{dir}/change-$name" ]; then
    : > "{dir}/read-$name"
    while [ -e "{dir}/read-$name" ]; do sleep 0.05; done
  fi
  exit $rc
fi
if [ "$1" = fs ] && [ "$2" = -stat ] && [ -e "{dir}/hang-recheck" ] && ! mkdir "{dir}/stat-1" 2>/dev/null; then
  echo $$ > "{dir}/rechecking"      # the re-check: hangs until killed
  exec sleep 120
fi
exec "{real}" "$@"
"""


def _wrapper(mc, tmp_path):
    log = tmp_path / "subcommands"
    log.touch()
    path = tmp_path / "hadoop-wrapped"
    path.write_text(WRAPPER.format(log=log, real=mc.cmd, dir=tmp_path))
    path.chmod(0o755)
    return str(path), log


def _put(mc, tmp_path, path, data):
    local = tmp_path / ("put-" + os.path.basename(path))
    local.write_bytes(data)
    mc.su_fs("-put", "-f", str(local), path)


def test_a_file_changed_between_its_read_and_completion_is_aborted_alone_in_one_recheck_batch(
        kit, minicluster, hdfs_home, tmp_path):
    mc = minicluster
    names = ["a-chgrp.csv", "b-chmod.csv", "c-append.bin", "d.csv", "e.csv"]
    paths = [f"{hdfs_home}/{n}" for n in names]
    for p in paths:
        _put(mc, tmp_path, p, os.urandom(6 * MiB) if p.endswith(".bin") else b"row,1\n" * 100)
    (tmp_path / "more").write_bytes(b"appended after the read\n")
    changes = {names[0]: ("-chgrp", "h2s-nobody-group"), names[1]: ("-chmod", "600"),
               names[2]: ("-appendToFile", str(tmp_path / "more"))}
    for n in changes:
        (tmp_path / f"change-{n}").touch()
    wrapper, log = _wrapper(mc, tmp_path)
    stop = threading.Event()

    def change_after_each_read():
        while not stop.is_set():
            for n, (op, arg) in changes.items():
                mark = tmp_path / f"read-{n}"
                if mark.exists():
                    mc.su_fs(op, arg, f"{hdfs_home}/{n}")
                    mark.unlink()
            time.sleep(0.05)

    t = threading.Thread(target=change_after_each_read, daemon=True)
    t.start()
    try:
        # the 6 MiB file in two parts: its multipart upload is open while it waits
        r = kit.transfer("--part-size", "5MiB", *paths,
                         env=dict(mc.env(), HADOOP_CMD=wrapper, HDFS2S3_RECHECK_WAIT="600"))
    finally:
        stop.set()
        t.join(10)
    recs = {os.path.basename(x["src"]): x for x in records(r.stdout)}
    assert [os.path.basename(x["src"]) for x in records(r.stdout)] == names     # input order
    assert r.returncode == 77, r.stderr                   # the first failure's: the chgrp'd file's
    a, b, c = (recs[n] for n in names[:3])
    assert a["status"] == "denied" and "denied when re-checked after reading" in a["error"]
    assert "h2s-nobody-group" in a["error"]
    assert (b["status"], b["exit_code"]) == ("changed", 65) and "changed while being read (mode)" in b["error"]
    assert (c["status"], c["exit_code"]) == ("changed", 65) and "(length, mtime)" in c["error"]
    assert c["parts"] == 2 and c["aborted"] is True and c["upload_id"]
    for x in (a, b, c):
        assert x["object_exists"] is False, x
        assert nothing_left(kit.s3, BUCKET, x["key"])
    for n in names[3:]:
        assert recs[n]["status"] == "ok", recs[n]
    assert kit.objects() == sorted(f"{KEY_PREFIX}{p}" for p in paths[3:])
    assert kit.open_uploads() == []
    # JVMs: the authz -stat and the -checksum for the batch, one -cat per file, and one re-check
    # -stat for all five after their reads (before: one re-check -stat per file)
    subs = log.read_text().split()
    assert subs.count("-cat") == len(names)
    assert subs.count("-Ddfs.checksum.combine.mode=COMPOSITE_CRC") == 1      # the batch's -checksum
    assert subs.count("-stat") == 2, subs


def test_a_signal_while_completions_wait_for_their_recheck_leaves_no_open_upload(
        kit, minicluster, hdfs_home, tmp_path):
    mc = minicluster
    paths = [f"{hdfs_home}/big.bin", f"{hdfs_home}/small.csv"]
    _put(mc, tmp_path, paths[0], os.urandom(6 * MiB))
    _put(mc, tmp_path, paths[1], b"small\n")
    wrapper, _log = _wrapper(mc, tmp_path)
    (tmp_path / "hang-recheck").touch()
    env = dict(os.environ, **kit.env, **mc.env())
    env.update(HADOOP_CMD=wrapper, HDFS2S3_RECHECK_WAIT="600")
    p = subprocess.Popen([proc.cmd_path("hdfs2s3kit"), "transfer", "--part-size", "5MiB", *paths], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    marker = tmp_path / "rechecking"
    deadline = time.monotonic() + 240
    while not (marker.exists() and marker.read_text().strip()):
        assert p.poll() is None and time.monotonic() < deadline, p.communicate()
        time.sleep(0.1)
    # both files read and sent, neither completed: the big one's upload is open
    assert len(kit.open_uploads()) == 1 and kit.objects() == []
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 143, err
    recs = records(out)
    assert sorted(x["src"] for x in recs) == sorted(paths)
    for x in recs:
        assert (x["status"], x["object_exists"]) == ("interrupted", False), x
    assert [x["aborted"] for x in recs if x["src"].endswith("big.bin")] == [True]
    assert kit.open_uploads() == [] and kit.objects() == []
    pid = int(marker.read_text())
    assert not proc.alive(pid)
