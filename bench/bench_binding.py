"""What binding the decision to the bytes costs (hdfs2s3kit.binding), on the real FsShell harness:

- authz of 1,000 paths in one batch (JVM launches, wall time) - the decision itself;
- per small file: reading an HDFS file through the bound reader (batch decision, read, `-stat`
  re-check after EOF) against the plain checked reader (read only), in the same process;
- per GiB: the same two readers over one large file;
- file://: the bound reader (open, fstat-decide, fstat at EOF) against the plain local reader.

Env: H2S_BENCH_PATHS (1000), H2S_BENCH_SMALL (10 small files), H2S_BENCH_BIND_BYTES (1 GiB; 0 skips).
"""

import os
import shutil
import statistics
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "tests"))

from harness.hadoop import Hadoop, skip_reason  # noqa: E402

from hdfs2s3kit import authz, binding, hdfs, identity, sitepolicy  # noqa: E402

N = int(os.environ.get("H2S_BENCH_PATHS", 1000))
SMALL = int(os.environ.get("H2S_BENCH_SMALL", 10))
BIG = int(os.environ.get("H2S_BENCH_BIND_BYTES", 1 << 30))
BUF = bytearray(1 << 20)


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


def read_bound(path, d, cmd, me, pol):
    with binding.open_authorized(path, me, pol, decision=d, hadoop_cmd=cmd) as r:
        return drain(r)


def timed(fn, *args):
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


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
        for i in range(N):
            (d / f"f{i:05d}").write_bytes(b"x" * 100)
        paths = [f"/user/bind/f{i:05d}" for i in range(N)]
        before = h.launches()
        t = time.perf_counter()
        decisions = authz.check_paths(paths, me, policy=pol, hadoop_cmd=h.cmd)
        batch_s = time.perf_counter() - t
        assert all(x.allowed for x in decisions), decisions[0].reason
        print(f"\nauthz of {N} paths: {h.launches() - before} JVM launch(es), {batch_s:.2f} s "
              f"({batch_s / N * 1000:.2f} ms/path)")

        print(f"\nper small file (100 B, HDFS via the FsShell), median of {SMALL}:")
        plain = [timed(read_plain, p, x, h.cmd) for p, x in zip(paths[:SMALL], decisions)]
        bound = [timed(read_bound, p, x, h.cmd, me, pol) for p, x in zip(paths[:SMALL], decisions)]
        mp, mb = statistics.median(plain), statistics.median(bound)
        print(f"  {'read, checked (reference)':<36} {mp:7.2f} s/file")
        print(f"  {'read + re-check (bound)':<36} {mb:7.2f} s/file   +{mb - mp:.2f} s/file ({mb / mp:.2f}x)")

        ld = tempfile.mkdtemp(prefix="bench-binding-local-")
        lp = []
        for i in range(200):
            p = os.path.join(ld, f"f{i}")
            with open(p, "wb") as f:
                f.write(b"x" * 100)
            lp.append(f"file://{p}")
        ldec = authz.check_paths(lp, me, policy=pol)
        t = time.perf_counter()
        for p, x in zip(lp, ldec):
            read_plain(p, x, None)
        lplain = (time.perf_counter() - t) / len(lp)
        t = time.perf_counter()
        for p in lp:
            with binding.open_authorized(p, me, pol) as r:
                drain(r)
        lbound = (time.perf_counter() - t) / len(lp)
        shutil.rmtree(ld)
        print(f"\nper small file:// file, mean of {len(lp)}:")
        print(f"  {'read, checked (reference)':<36} {lplain * 1e6:7.0f} us/file")
        print(f"  {'fstat-decide + read + fstat (bound)':<36} {lbound * 1e6:7.0f} us/file   "
              f"+{(lbound - lplain) * 1e6:.0f} us/file")

        if BIG:
            big = d / "big"
            block = os.urandom(1 << 20)
            with open(big, "wb") as f:
                for _ in range(BIG >> 20):
                    f.write(block)
            (bd,) = authz.check_paths(["/user/bind/big"], me, policy=pol, hadoop_cmd=h.cmd)
            gib = big.stat().st_size / (1 << 30)
            tp = timed(read_plain, "/user/bind/big", bd, h.cmd)
            tb = timed(read_bound, "/user/bind/big", bd, h.cmd, me, pol)
            print(f"\none file of {gib:.2f} GiB (HDFS via the FsShell):")
            print(f"  {'read, checked (reference)':<36} {tp / gib:7.2f} s/GiB")
            print(f"  {'read + re-check (bound)':<36} {tb / gib:7.2f} s/GiB   +{(tb - tp) / gib:.2f} s/GiB "
                  f"({tb / tp:.2f}x)")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
