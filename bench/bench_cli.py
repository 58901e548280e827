"""Everyday CLI: `transfer -j 1` against `-j 4`, and `--bwlimit` against its target.

    python bench/bench_cli.py [--small 1000] [--large 4] [--large-mib 256] [--rate 20MiB/s]

- 1,000 small files (10 KiB) and 4 files of 256 MiB, file:// sources, into a local moto server,
  through one `hdfs2s3kit transfer -r` each way; the ratio is the speed-up of -j 4 measured in
  this run. moto is a single GIL-bound process (~40-50 MB/s here), so the large-file case is
  bounded by it: a real S3 endpoint has no such ceiling.
- `--bwlimit RATE` (default 20MiB/s) of `s3-put-sts`, `s3-get-sts` and `transfer -j 4` (one
  limit shared by four files and their parts in flight), into bench/discard_s3.py on 127.0.0.1 --
  moto is too slow and noisy to carry 20 MiB/s steadily on a loaded machine; that stand-in drains
  every body at socket speed and counts the bytes on the wire. Rate = the extra wire bytes over the
  extra wall time between two sizes (N and N/2 MiB), so process start-up, STS, the limiter's
  one-second burst and the final Complete drop out; also the plain bytes / wall time of the larger
  one. Target: within 10 %. Each command also runs unlimited first, to show the endpoint is not
  what sets the pace.

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
    """--bwlimit against its target, into bench/discard_s3.py (S3 only; SSM and STS stay on moto
    for transfer): that server drains every body at socket speed, so the limit, not the endpoint,
    sets the pace, and the bytes it counts are the bytes on the wire (ciphertext and retries
    included)."""
    from discard_s3 import DiscardS3

    disc = DiscardS3()
    try:
        _rate_rows(a, work, dict(env, AWS_ENDPOINT_URL_S3=disc.url), rate, chunk, disc)
    finally:
        disc.close()


def _rate_rows(a, work, env, rate, chunk, disc):
    sizes = (a.rate_mib, a.rate_mib // 2)
    for mib in sizes:
        disc.add_zeros(base.BUCKET, f"zeros{mib}.bin", mib * MiB)
    jobs = 4
    for mib in sizes:     # transfer -j 4: four files per run, a quarter of the bytes each
        folder = os.path.join(work, f"j4-{mib}")
        os.makedirs(folder)
        for i in range(jobs):
            with open(os.path.join(folder, f"p{i}.bin"), "wb") as f:
                for _ in range(mib // jobs):
                    f.write(chunk)

    def wire(counter):
        with disc.state.lock:
            return getattr(disc.state, counter)

    runs = iter(range(1, 1000))     # a new key each run: --overwrite/--force would add a part-MD5
                                    # check the stand-in cannot answer (it keeps no bytes to hash)

    def put(limit, mib):
        argv = [os.path.join(BIN, "s3-put-sts"), "--no-assume-role",
                f"s3://{base.BUCKET}/put{mib}-{next(runs)}.bin"] + (["--bwlimit", limit] if limit else [])
        src = subprocess.Popen(["head", "-c", str(mib * MiB), "/dev/zero"], stdout=subprocess.PIPE)
        try:
            return timed(argv, env, stdin=src.stdout)
        finally:
            src.stdout.close()
            src.wait()

    def get(limit, mib):
        argv = [os.path.join(BIN, "s3-get-sts"), "--no-assume-role", f"s3://{base.BUCKET}/zeros{mib}.bin"]
        return timed(argv + (["--bwlimit", limit] if limit else []), env)

    def transfer(limit, mib):
        argv = [os.path.join(BIN, "hdfs2s3kit"), "transfer", "-r", "-q", "-j", str(jobs),
                f"file://{os.path.join(work, f'j4-{mib}')}", f"s3://{base.BUCKET}/j4-{next(runs)}/",
                "--no-metrics", "--notify", "none"] + (["--bwlimit", limit] if limit else [])
        return timed(argv, env)

    commands = (("s3-put-sts", put, "bytes"), ("s3-get-sts", get, "sent"), (f"transfer -j {jobs}", transfer, "bytes"))

    def measure(fn, counter, limit, mib):
        before = wire(counter)
        disc.keep_timeline()
        t = fn(limit, mib)
        # s3-get-sts reads ahead up to (concurrency + 1) x chunk (40 MiB by default) before the
        # limit (taken as bytes are written out) holds it back: the wire's steady state starts later.
        steady = disc.steady_rate("received", 0.25) if counter == "bytes" else disc.steady_rate("sent", 0.5)
        disc.keep_timeline(False)
        return t, wire(counter) - before, steady

    free = {}
    for label, fn, counter in commands:
        t, n, _ = measure(fn, counter, None, sizes[0])
        free[label] = n / t
    print(f"\n--bwlimit {a.rate} (target: within 10 %), into bench/discard_s3.py on 127.0.0.1 "
          f"(keeps nothing, drains at socket speed); {sizes[0]} and {sizes[1]} MiB per command; unlimited "
          "(bytes/wall): " + ", ".join(f"{k} {v / MiB:.0f} MiB/s" for k, v in free.items()))
    print("on the wire = the server's count of body bytes between the moments 25 % (get: 50 %, past its "
          "read-ahead) and 90 % of them had crossed (past start-up and the limiter's one-second burst); slope = extra bytes / extra wall time "
          "between the two sizes (the client's view)")
    print(f"{'command':<14}{'--bwlimit':>10}{'MiB':>7}{'wall s':>8}{'bytes/wall':>11}{'slope':>8}"
          f"{'on the wire':>12}{'vs limit':>10}")
    results = []
    for label, fn, counter in commands:
        t_big, n_big, steady = measure(fn, counter, a.rate, sizes[0])
        t_small, n_small, _ = measure(fn, counter, a.rate, sizes[1])
        slope = (n_big - n_small) / max(t_big - t_small, 1e-6)
        dev = (steady or 0) / rate - 1
        verdict = "PASS" if abs(dev) <= 0.10 else (
            "n/a: the endpoint is slower than the limit" if free[label] < rate else "MISS")
        results.append((label, dev, verdict))
        print(f"{label:<14}{a.rate:>10}{n_big / MiB:>7.0f}{t_big:>8.2f}{n_big / t_big / MiB:>11.2f}"
              f"{slope / MiB:>8.2f}{(steady or 0) / MiB:>12.2f}{dev * 100:>+9.1f}%  {verdict}", flush=True)
    return results


if __name__ == "__main__":
    main()
