"""authz-check over 1,000 paths (one batch) against single-path `hadoop fs -stat` calls, and
`hdfs2s3kit cat` throughput against `cat` / raw `hadoop fs -cat`, on the real FsShell harness.

Env: H2S_BENCH_PATHS (1000), H2S_BENCH_SINGLE (10 single-path calls, scaled to PATHS),
H2S_BENCH_CAT_BYTES (1 GiB; 0 skips the cat part).
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "tests"))

from harness.hadoop import Hadoop, skip_reason  # noqa: E402

BIN = os.path.dirname(sys.executable)
N = int(os.environ.get("H2S_BENCH_PATHS", 1000))
SINGLE = int(os.environ.get("H2S_BENCH_SINGLE", 10))
CAT_BYTES = int(os.environ.get("H2S_BENCH_CAT_BYTES", 1 << 30))


def timed(argv, env, stdin=None, stdout=subprocess.DEVNULL):
    t = time.perf_counter()
    r = subprocess.run(argv, env=env, input=stdin, stdout=stdout, stderr=subprocess.PIPE)
    return time.perf_counter() - t, r


def row(name, secs, ref, extra=""):
    print(f"{name:<44} {secs:9.2f} s  {ref / secs if secs else 0:8.1f}x  {extra}", flush=True)


def bench_stat(h, env):
    d = h.root / "user" / "bench"
    d.mkdir(exist_ok=True)
    paths = []
    for i in range(N):
        (d / f"f{i:05d}").touch()
        paths.append(f"/user/bench/f{i:05d}")
    before = h.launches()
    batch_s, r = timed([os.path.join(BIN, "authz-check")], env, stdin=("\n".join(paths) + "\n").encode(),
                       stdout=subprocess.PIPE)
    launches = h.launches() - before
    assert r.returncode == 0 and len(r.stdout.splitlines()) == N, r.stderr[-500:]
    t = time.perf_counter()
    for p in paths[:SINGLE]:
        rr = subprocess.run([h.cmd, "fs", "-stat", "%g", p], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert rr.returncode == 0, rr.stderr[-500:]
    single_s = (time.perf_counter() - t) * N / SINGLE
    print(f"\n{N} paths, group policy ({os.cpu_count()} cores)")
    print(f"{'':<44} {'wall':>11}  {'speed-up':>8}")
    row(f"hadoop fs -stat, one call per path (x{N // SINGLE})", single_s, single_s, f"{N} launches (scaled)")
    row("authz-check, one batch", batch_s, single_s, f"{launches} launch(es)")
    shutil.rmtree(d)


def bench_cat(h, env):
    d = h.root / "user" / "benchcat"
    d.mkdir(exist_ok=True)
    big = d / "big"
    block = os.urandom(1 << 20)
    with open(big, "wb") as f:
        for _ in range(CAT_BYTES >> 20):
            f.write(block)
    size = big.stat().st_size
    gib = size / (1 << 30)
    tiny = d / "tiny"
    tiny.write_bytes(b"t")
    runs = [
        ("cat FILE (reference)", ["cat", str(big)]),
        ("hdfs2s3kit cat file://1-byte (start-up only)", [os.path.join(BIN, "hdfs2s3kit"), "cat",
                                                          f"file://{tiny}"]),
        ("hdfs2s3kit cat file://FILE", [os.path.join(BIN, "hdfs2s3kit"), "cat", f"file://{big}"]),
        ("hadoop fs -cat /user/... (raw, unchecked)", [h.cmd, "fs", "-cat", "/user/benchcat/big"]),
        ("hdfs2s3kit cat /user/... (stat + checked)", [os.path.join(BIN, "hdfs2s3kit"), "cat",
                                                       "/user/benchcat/big"]),
    ]
    print(f"\ncat throughput, {size >> 20} MiB to a pipe (consumer: `cat >/dev/null`)")
    print(f"{'':<44} {'wall':>11}  {'vs cat':>8}")
    ref = raw = None
    for name, argv in runs:
        t = time.perf_counter()
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        sink = subprocess.Popen(["cat"], stdin=p.stdout, stdout=subprocess.DEVNULL)
        p.stdout.close()
        sink.wait()
        err = p.stderr.read()
        assert p.wait() == 0, err[-500:]
        secs = time.perf_counter() - t
        ref = ref or secs
        if "start-up" in name:
            print(f"{name:<44} {secs:9.2f} s", flush=True)
            continue
        vs_raw = f"  {raw / secs:5.2f}x raw hadoop" if raw and "hdfs2s3kit" in name and "/user" in name else ""
        raw = secs if "raw" in name else raw
        print(f"{name:<44} {secs:9.2f} s  {ref / secs:8.2f}x  {gib / secs * 1024:7.0f} MiB/s{vs_raw}", flush=True)
    shutil.rmtree(d)


def main():
    why = skip_reason()
    if why:
        print(f"skipped: {why}")
        return 0
    base = tempfile.mkdtemp(prefix="h2s-bench-")
    try:
        h = Hadoop.build(base)
        env = dict(os.environ, **h.env())
        env.pop("HDFS2S3_CONFIG", None)
        bench_stat(h, env)
        if CAT_BYTES:
            bench_cat(h, env)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
