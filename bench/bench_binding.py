"""What binding the decision to the bytes costs (hdfs2s3kit.binding, groupcommit), on the real FsShell
harness (viewfs over a local folder), in CPU seconds (this process and its JVMs) and JVM launches:

- authz of 1,000 paths in one batch - the decision itself (still one JVM);
- the HDFS re-check after the read, per small file: before = one `-stat` per file at its EOF
  (binding's EOF mode, which `hdfs2s3kit cat` and the pipe still use), after = the group commit
  `transfer` and the mapper use (one `-stat` batch for every file waiting), both over the same
  files; the `-cat` of one small file is the reference a file costs anyway;
- per GiB: one large file read (the reference) and its re-check (one `-stat`, whatever the size);
- file://: the bound reader (open, fstat-decide, fstat at EOF) against the plain local reader.

Env: H2S_BENCH_PATHS (1000), H2S_BENCH_SMALL (100 small files re-checked after),
H2S_BENCH_BEFORE (20 of them re-checked one JVM each, the before), H2S_BENCH_BIND_BYTES (1 GiB; 0 skips).
"""

import os
import resource
import shutil
import sys
import tempfile
import threading
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "tests"))

from harness.hadoop import Hadoop, skip_reason  # noqa: E402

from hdfs2s3kit import authz, binding, groupcommit, hdfs, identity, sitepolicy  # noqa: E402

N = int(os.environ.get("H2S_BENCH_PATHS", 1000))
SMALL = int(os.environ.get("H2S_BENCH_SMALL", 100))
BEFORE = min(SMALL, int(os.environ.get("H2S_BENCH_BEFORE", 20)))
BIG = int(os.environ.get("H2S_BENCH_BIND_BYTES", 1 << 30))
BUF = bytearray(1 << 20)


def cpu():
    """CPU seconds (user + sys) of this process and of its children that ended (the JVMs)."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


class Measure:
    def __init__(self, h):
        self.h = h

    def __enter__(self):
        self.launches, self.cpu, self.wall = self.h.launches(), cpu(), time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.launches = self.h.launches() - self.launches
        self.cpu = cpu() - self.cpu
        self.wall = time.perf_counter() - self.wall
        return False


def drain(r):
    mv = memoryview(BUF)
    n = 0
    while True:
        k = r.readinto(mv)
        if not k:
            return n
        n += k


def read_plain(path, d, cmd):
    with hdfs.open_source(path, expected_length=d.stat.length, hadoop_cmd=cmd) as r:
        return drain(r)


class Item:
    """A group-commit item whose completion is free: what is measured is the re-check alone."""

    def __init__(self, check):
        self.check, self.src, self.held = check, check.src, 100
        self.ok = None

    def complete(self):
        self.ok = True

    def fail(self, err):
        self.ok = err

    def done(self):
        pass


def main():
    why = skip_reason()
    if why:
        print(f"skipped: {why}")
        return 0
    base = tempfile.mkdtemp(prefix="bench-binding-")
    os.chmod(base, 0o755)
    try:
        h = Hadoop.build(base)
        me, pol = identity.lookup(), sitepolicy.effective()
        d = h.root / "user" / "bind"
        d.mkdir(parents=True)
        for i in range(max(N, SMALL)):
            (d / f"f{i:05d}").write_bytes(b"x" * 100)
        paths = [f"/user/bind/f{i:05d}" for i in range(N)]
        with Measure(h) as m:
            decisions = authz.check_paths(paths, me, policy=pol, hadoop_cmd=h.cmd)
        assert all(x.allowed for x in decisions), decisions[0].reason
        print(f"\nauthz of {N} paths: {m.launches} JVM launch(es), {m.cpu:.2f} CPU-s, {m.wall:.2f} s wall "
              f"({m.cpu / N * 1000:.2f} CPU-ms/path)")

        small = decisions[:SMALL]
        checks = [binding.Recheck(x.path, x.stat, me, pol) for x in small]
        with Measure(h) as ref:
            read_plain(small[0].path, small[0], h.cmd)
        with Measure(h) as before:
            for c in checks[:BEFORE]:
                try:
                    now = hdfs.stat_one(c.src, h.cmd)
                except Exception as e:  # noqa: BLE001
                    now = e
                assert c.verdict(now) is None
        with Measure(h) as after:
            gc = groupcommit.GroupCommit(h.cmd, max_wait_s=600)
            items = [Item(c) for c in checks]
            with gc.producing():
                for it in items:
                    gc.submit(it)
            gc.flush()
            gc.close()
        assert all(it.ok is True for it in items), [it.ok for it in items if it.ok is not True][:1]
        b_file, a_file = before.cpu / BEFORE, after.cpu / SMALL
        print(f"\nHDFS re-check after the read, small files (100 B):")
        print(f"  {'reference: one -cat of a file':<44} {ref.cpu:7.3f} CPU-s/file  ({ref.launches} JVM)")
        print(f"  {'before: one -stat per file at EOF':<44} {b_file:7.3f} CPU-s/file  "
              f"({before.launches} JVMs for {BEFORE} files, {before.wall / BEFORE:.2f} s wall/file)")
        print(f"  {'after: group commit, one -stat batch':<44} {a_file:7.3f} CPU-s/file  "
              f"({after.launches} JVM(s) for {SMALL} files, {gc.batches} batch(es), "
              f"{after.wall:.2f} s wall in all)")
        print(f"  after / before: {a_file / b_file:.3f}x CPU per file; JVMs per file "
              f"{before.launches / BEFORE:.2f} -> {after.launches / SMALL:.3f}; the re-check was "
              f"{b_file / ref.cpu:.0%} of a small file's read, now {a_file / ref.cpu:.1%}")

        ld = tempfile.mkdtemp(prefix="bench-binding-local-")
        lp = []
        for i in range(200):
            p = os.path.join(ld, f"f{i}")
            with open(p, "wb") as f:
                f.write(b"x" * 100)
            lp.append(f"file://{p}")
        ldec = authz.check_paths(lp, me, policy=pol)
        t = cpu()
        for p, x in zip(lp, ldec):
            read_plain(p, x, None)
        lplain = (cpu() - t) / len(lp)
        t = cpu()
        for p in lp:
            with binding.open_authorized(p, me, pol) as r:
                drain(r)
        lbound = (cpu() - t) / len(lp)
        shutil.rmtree(ld)
        print(f"\nper small file:// file, mean of {len(lp)}:")
        print(f"  {'read, checked (reference)':<44} {lplain * 1e6:7.0f} CPU-us/file")
        print(f"  {'fstat-decide + read + fstat (bound)':<44} {lbound * 1e6:7.0f} CPU-us/file   "
              f"+{(lbound - lplain) * 1e6:.0f} us/file")

        if BIG:
            big = d / "big"
            block = os.urandom(1 << 20)
            with open(big, "wb") as f:
                for _ in range(BIG >> 20):
                    f.write(block)
            (bd,) = authz.check_paths(["/user/bind/big"], me, policy=pol, hadoop_cmd=h.cmd)
            gib = big.stat().st_size / (1 << 30)
            with Measure(h) as rd:
                read_plain("/user/bind/big", bd, h.cmd)
            with Measure(h) as rc:
                (v,) = binding.recheck_many([binding.Recheck(bd.path, bd.stat, me, pol)], h.cmd)
                assert v is None
            print(f"\none file of {gib:.2f} GiB (HDFS via the FsShell):")
            print(f"  {'read, checked (reference)':<44} {rd.cpu / gib:7.2f} CPU-s/GiB")
            print(f"  {'its re-check (one -stat, before and after)':<44} {rc.cpu / gib:7.2f} CPU-s/GiB   "
                  f"({rc.cpu / rd.cpu:.0%} of the read; shared with every file in its batch after)")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    sys.exit(main())
