"""Everyday CLI: `transfer -j 1` against `-j 4`, and `--bwlimit` against its target.

    python bench/bench_cli.py [--small 1000] [--large 4] [--large-mib 256] [--rate 20MiB/s]

- 1,000 small files (10 KiB) and 4 files of 256 MiB, file:// sources, into a local moto server,
  through one `hdfs2s3kit transfer -r` each way; the ratio is the speed-up of -j 4 measured in
  this run. moto is a single GIL-bound process (~40-50 MB/s here), so the large-file case is
  bounded by it: a real S3 endpoint has no such ceiling.
- `s3-put-sts --bwlimit RATE` of 160 MiB (and `s3-get-sts --bwlimit` of the same object): the
  achieved rate against RATE, from two sizes (N and N/2 MiB: rate = the extra bytes over the extra
  wall time, so process start-up, STS and the final Complete/read-back drop out); also the plain
  bytes / wall time of the larger one. Target: within 10 %. A limit can only be checked below what the endpoint carries, so the same
  transfers run unlimited first; when the endpoint is slower than RATE (a loaded machine: moto
  shares the cores), the limit is also measured at a third of the unlimited rate.

    python bench/bench_cli.py --only-rate      # the --bwlimit part alone
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_mapper as base  # noqa: E402 - moto start, seeding and file helpers shared with that bench

BIN = base.BIN
MiB = 1 << 20


def transfer_tree(folder, env, tag, jobs):
    argv = [os.path.join(BIN, "hdfs2s3kit"), "transfer", "-r", "-q", "-j", str(jobs), f"file://{folder}",
            f"s3://{base.BUCKET}/{tag}/", "--no-metrics", "--notify", "none"]
    t0 = time.perf_counter()
    r = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t0
    ok = r.stdout.count(b'"status":"ok"')
    if r.returncode:
        raise SystemExit(f"bench_cli: transfer -j {jobs} failed (exit {r.returncode}, {ok} ok): "
                         f"{r.stderr.decode()[-1500:]}")
    return dt, ok


def timed(argv, env, stdin=None, stdout=subprocess.DEVNULL):
    t0 = time.perf_counter()
    r = subprocess.run(argv, env=env, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t0
    if r.returncode:
        raise SystemExit(f"bench_cli: {argv[0]} failed (exit {r.returncode}): {r.stderr.decode()[-1000:]}")
    return dt


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--small", type=int, default=1000)
    ap.add_argument("--large", type=int, default=4)
    ap.add_argument("--large-mib", type=int, default=256)
    ap.add_argument("--rate", default="20MiB/s")
    ap.add_argument("--rate-mib", type=int, default=160, help="MiB sent under --bwlimit")
    ap.add_argument("--only-rate", action="store_true", help="only the --bwlimit measurement")
    a = ap.parse_args()
    from hdfs2s3kit import bwlimit

    rate = bwlimit.parse_rate(a.rate)
    work = tempfile.mkdtemp(prefix="h2s-bench-cli-")
    server, url = base.start_moto(work)
    try:
        env = dict(os.environ, AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                   AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
                   AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull, HDFS2S3_CONFIG=base.PREFIX)
        env.pop("AWS_PROFILE", None)
        base.seed(env)
        chunk = os.urandom(MiB)
        if not a.only_rate:
            scaling(a, work, env, url, chunk)
        rate_check(a, work, env, rate, chunk)
    finally:
        from hdfs2s3kit import localaws

        localaws.stop_moto_server(server)
        shutil.rmtree(work, ignore_errors=True)


def scaling(a, work, env, url, chunk):
    rows = []
    small = os.path.join(work, "small")
    base.make_files(small, a.small, base.SIZE)
    large = os.path.join(work, "large")
    os.makedirs(large)
    for i in range(a.large):
        with open(os.path.join(large, f"L{i}.bin"), "wb") as f:
            for _ in range(a.large_mib):
                f.write(chunk)
    for name, folder, n, size in (("small", small, a.small, base.SIZE), ("large", large, a.large,
                                                                            a.large_mib * MiB)):
        t1, ok1 = transfer_tree(folder, env, f"{name}-j1", 1)
        t4, ok4 = transfer_tree(folder, env, f"{name}-j4", 4)
        assert ok1 == ok4 == n, (ok1, ok4, n)
        rows.append((f"{n} x {size // 1024} KiB" if size < MiB else f"{n} x {size // MiB} MiB", t1, t4))
        shutil.rmtree(folder, ignore_errors=True)
    print(f"transfer -r, file:// sources, moto at {url} (bounded by moto: ~40-50 MB/s on one core)")
    print(f"{'files':<20}{'-j 1 s':>10}{'-j 4 s':>10}{'speed-up':>10}")
    for label, t1, t4 in rows:
        print(f"{label:<20}{t1:>10.2f}{t4:>10.2f}{t1 / t4:>9.2f}x")


def rate_check(a, work, env, rate, chunk):
    blobs = {}
    for mib in (a.rate_mib, a.rate_mib // 2):
        blobs[mib] = os.path.join(work, f"rate{mib}.bin")
        with open(blobs[mib], "wb") as f:
            for _ in range(mib):
                f.write(chunk)
    nbytes = a.rate_mib * MiB
    half = a.rate_mib // 2

    def put(limit, key, mib=a.rate_mib):
        argv = [os.path.join(BIN, "s3-put-sts"), "--no-assume-role", "--overwrite", f"s3://{base.BUCKET}/{key}"]
        with open(blobs[mib], "rb") as f:
            return timed(argv + (["--bwlimit", limit] if limit else []), env, stdin=f)

    def get(limit, key, mib=a.rate_mib):
        argv = [os.path.join(BIN, "s3-get-sts"), "--no-assume-role", f"s3://{base.BUCKET}/{key}"]
        return timed(argv + (["--bwlimit", limit] if limit else []), env)

    put(None, "rate-half.bin", half)
    free = {"s3-put-sts": nbytes / put(None, "rate.bin"), "s3-get-sts": nbytes / get(None, "rate.bin")}
    targets = [(a.rate, rate)]
    slowest = min(free.values())
    if slowest < rate * 1.2:
        low = max(1 << 20, int(slowest / 3) >> 18 << 18)      # a third, in 256 KiB steps
        targets.append((f"{low / MiB:g}MiB/s", low))
    print(f"\n--bwlimit, {a.rate_mib} MiB; unlimited here: s3-put-sts {free['s3-put-sts'] / MiB:.1f} MiB/s, "
          f"s3-get-sts {free['s3-get-sts'] / MiB:.1f} MiB/s; target: within 10 %")
    print(f"{'command':<14}{'--bwlimit':>12}{'wall s':>9}{'bytes/wall':>11}{'slope MiB/s':>12}{'vs limit':>10}")
    for text, r in targets:
        for label, fn in (("s3-put-sts", put), ("s3-get-sts", get)):
            t = fn(text, "rate.bin")
            t_half = fn(text, "rate-half.bin", half)
            slope = (nbytes - half * MiB) / max(t - t_half, 1e-6)
            dev = slope / r - 1
            verdict = "PASS" if abs(dev) <= 0.10 else (
                "n/a: the endpoint is slower than the limit" if free[label] < r else "MISS")
            print(f"{label:<14}{text:>12}{t:>9.2f}{nbytes / t / MiB:>11.2f}{slope / MiB:>12.2f}"
                  f"{dev * 100:>+9.1f}%  {verdict}")


if __name__ == "__main__":
    main()
