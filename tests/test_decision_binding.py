"""What is uploaded under an authorized name is the file that was authorized, even when the
file is swapped (for a symlink to a forbidden file) or chgrp'd between the decision and the
read. Real users, the real commands (transfer, the mapper, bin/hdfs2s3-pipe), the real
Hadoop FsShell over viewfs, and file:// paths."""

import grp
import os
import pwd
import threading

import pytest

from harness.hadoop import world_tmp
from test_transfer_support import BUCKET, key_for, records

SAME = b"public-report-000"     # a forbidden file of the same length: the length check alone passes
SECRET = b"payroll-secret-17"


@pytest.fixture
def scene(kit, linux_users, hadoop, hdfs_dir):
    u = linux_users
    erin = u.user("bindu", ["fin"])
    fin, mkt = u.group("fin"), u.group("mkt")
    d = world_tmp("h2s-bind-")
    os.chmod(d, 0o777)

    def put(directory, name, data, group, mode=0o644):
        p = os.path.join(directory, name)
        with open(p, "wb") as f:
            f.write(data)
        os.chown(p, 0, grp.getgrnam(group).gr_gid)
        os.chmod(p, mode)
        return p

    def run(*argv, env=None, input=None):
        e = dict(kit.env, **hadoop.env())
        e["PATH"] = u.bindir + os.pathsep + os.environ.get("PATH", "")
        e.update(env or {})
        return u.run(erin, argv, env=e, input=input)

    return type("S", (), dict(kit=kit, u=u, erin=erin, fin=fin, mkt=mkt, d=d, put=staticmethod(put),
                              run=staticmethod(run), hadoop=hadoop, hdfs=hdfs_dir))


def test_file_sources_are_decided_on_the_descriptor_that_is_read(scene):
    s = scene
    gate = os.path.join(s.d, "gate")
    os.mkfifo(gate)
    os.chown(gate, 0, grp.getgrnam(s.fin).gr_gid)
    os.chmod(gate, 0o644)
    swapped = s.put(s.d, "swapped.csv", SAME, s.fin)
    chgrped = s.put(s.d, "chgrped.csv", SAME, s.fin)
    secret = s.put(s.d, "secret.csv", SECRET, s.mkt)

    def meddle():
        # transfer has decided all three (one batch) and now reads the first: change the others
        fd = os.open(gate, os.O_WRONLY)     # returns once the reader has opened the FIFO
        os.unlink(swapped)
        os.symlink(secret, swapped)
        os.chown(chgrped, -1, grp.getgrnam(s.mkt).gr_gid)
        os.close(fd)

    t = threading.Thread(target=meddle)
    t.start()
    r = s.run(s.u.cmd("hdfs2s3kit"), "transfer", *(f"file://{p}" for p in (gate, swapped, chgrped)))
    t.join(10)
    recs = {os.path.basename(x["src"]): x for x in records(r.stdout)}
    assert r.returncode == 66, r.stderr          # the first failure's code: the FIFO's
    assert recs["gate"]["status"] == "no_input" and "not a regular file" in recs["gate"]["error"]
    for name in ("swapped.csv", "chgrped.csv"):
        assert recs[name]["status"] == "denied", recs[name]
        assert f"not a member of the file's group {s.mkt}" in recs[name]["error"]
    assert s.kit.objects() == [] and s.kit.open_uploads() == []


SWAPPING_HADOOP = """#!/bin/bash
# test: the first `fs -cat` finds its source swapped for a symlink to a forbidden file
if [ "$1" = fs ] && [ "$2" = -cat ] && mkdir "{mark}" 2>/dev/null; then
  mv "{victim}" "{victim}.orig" && ln -s "{secret}" "{victim}"
fi
exec "{real}" "$@"
"""


def _swapping(s, name):
    hpath, local = s.hdfs
    victim = s.put(str(local), name, SAME, s.fin)
    secret = s.put(s.d, "secret.csv", SECRET, s.mkt)
    wrapper = os.path.join(s.d, "hadoop-swapping")
    with open(wrapper, "w") as f:
        f.write(SWAPPING_HADOOP.format(mark=os.path.join(s.d, "swapped-once"), victim=victim, secret=secret,
                                       real=s.hadoop.cmd))
    os.chmod(wrapper, 0o755)
    return f"{hpath}/{name}", {"HADOOP_CMD": wrapper}


def test_transfer_rechecks_an_hdfs_source_after_reading_it(scene):
    src, env = _swapping(scene, "q3.csv")
    r = scene.run(scene.u.cmd("hdfs2s3kit"), "transfer", src, env=env)
    (rec,) = records(r.stdout)
    assert r.returncode == 77 and rec["status"] == "denied", rec
    assert "re-checked after reading" in rec["error"]
    assert scene.kit.objects() == [] and scene.kit.open_uploads() == []


def test_the_mapper_rechecks_too(scene):
    src, env = _swapping(scene, "m.csv")
    r = scene.run(scene.u.cmd("hdfs2s3kit"), "map", "--no-manifest", "--run-id", "bind", env=env,
                  input=(src + "\n").encode())
    rows = [ln.split("\t") for ln in r.stdout.decode().splitlines()]
    assert r.returncode == 77 and rows[0][0] == "denied", (rows, r.stderr)
    assert scene.kit.objects() == [] and scene.kit.open_uploads() == []


def test_the_pipe_script_reads_what_authz_check_allowed(scene):
    src, env = _swapping(scene, "p.csv")
    # the installed copy (next to the commands it runs): the checkout itself need not be
    # readable by the test user
    r = scene.run(scene.u.cmd("hdfs2s3-pipe"), src, f"s3://{BUCKET}/pipe/p.csv", env=env)
    assert r.returncode == 77, r.stderr
    assert scene.kit.objects() == [] and scene.kit.open_uploads() == []


def test_an_unchanged_hdfs_source_still_goes_through(scene):
    hpath, local = scene.hdfs
    scene.put(str(local), "fine.csv", SAME, scene.fin)
    r = scene.run(scene.u.cmd("hdfs2s3kit"), "transfer", f"{hpath}/fine.csv")
    assert r.returncode == 0, r.stderr
    assert scene.kit.objects() == [key_for(f"{hpath}/fine.csv")]
    assert records(r.stdout)[0]["user"] == scene.erin == pwd.getpwnam(scene.erin).pw_name
