"""Batches that one bad path cannot take down: sized from the kernel's real argument limits,
a path too long for any command line refused on its own, a path Hadoop cannot take failing on
its own, a broken client never answered one JVM per file. Real users, the real FsShell."""

import os

from harness.hadoop import Hadoop, world_tmp
from test_authz_cli import make_file


def _scene(linux_users, hadoop, hdfs_dir):
    u = linux_users
    erin = u.user("batu", ["fin"])
    hpath, local = hdfs_dir
    make_file(local, "a.csv", "root", u.group("fin"), 0o640)
    make_file(local, "b.csv", "root", u.group("fin"), 0o640)
    return u, erin, hpath


def test_a_too_long_path_and_a_path_hadoop_cannot_take_each_fail_alone(linux_users, hadoop, hdfs_dir):
    u, erin, hpath = _scene(linux_users, hadoop, hdfs_dir)
    good = [f"{hpath}/a.csv", f"{hpath}/b.csv"]
    bad = ["/" + "x" * (130 * 1024), "hdfs://unknownhost.invalid/x", "a:b"]
    listing = [good[0], *bad, "viewfs:/", good[1]]
    before = hadoop.launches()
    r = u.run(erin, [u.cmd("authz-check"), "-0"], env=hadoop.env(),
              input=b"".join(p.encode() + b"\0" for p in listing))
    out = r.stdout.split(b"\0")[:-1]
    assert [p for p in out if p != b"viewfs:/"] == [p.encode() for p in good], r.stderr[-2000:]
    err = r.stderr.decode()
    assert "Traceback" not in err and "longer than one command-line argument" in err
    assert "unknownhost.invalid" in err and "refusing 'a:b'" in err
    assert r.returncode in (2, 69, 77)    # the worst per-path code; what matters is each got its answer
    # default filesystem batch + the viewfs root + the unreachable filesystem
    assert hadoop.launches() - before <= 3


def test_batches_fit_a_small_stack_limit(linux_users, hadoop, hdfs_dir):
    u, erin, hpath = _scene(linux_users, hadoop, hdfs_dir)
    # 2,400 paths of ~250 bytes: about 650 KB of arguments, more than ARG_MAX under `ulimit -s 2048`
    missing = [f"{hpath}/{'m' * 230}{i:05d}" for i in range(2400)]
    listing = [f"{hpath}/a.csv", *missing]
    before = hadoop.launches()
    r = u.run(erin, ["prlimit", "--stack=2097152", "--", u.cmd("authz-check")], env=hadoop.env(),
              input=("\n".join(listing) + "\n").encode())
    assert r.stdout == f"{hpath}/a.csv\n".encode(), r.stderr[-2000:]
    assert r.returncode == 66 and r.stderr.decode().count("no such file or directory") == len(missing)
    assert 2 <= hadoop.launches() - before <= 4


def test_transfer_with_a_broken_client_gives_every_file_a_record_without_one_jvm_each(kit, linux_users, hadoop,
                                                                                       hdfs_dir):
    u, erin, hpath = _scene(linux_users, hadoop, hdfs_dir)
    base = world_tmp("h2s-broken-")
    broken = Hadoop.build(base, core_site=False)
    srcs = [f"{hpath}/a.csv", f"{hpath}/b.csv", f"{hpath}/c.csv", f"{hpath}/d.csv"]
    r = u.run(erin, [u.cmd("hdfs2s3kit"), "transfer", *srcs], env=dict(kit.env, **broken.env()))
    lines = [ln for ln in r.stdout.decode().splitlines() if ln.strip()]
    assert r.returncode == 69 and len(lines) == len(srcs), r.stderr
    assert all('"status":"unavailable"' in ln for ln in lines), lines
    assert broken.launches() <= 3      # the -stat batch, one probe, the -checksum batch: not one per file
    assert kit.objects() == []
    os.system(f"rm -rf {base}")
