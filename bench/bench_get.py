"""CPU per byte of `s3-get-sts` on one object, lean AWS path vs botocore, in the same run.

    BENCH_MIB=256      object size (multipart, 8 MiB parts, CRC32C full-object checksum as s3-put-sts stores)
    BENCH_ROUNDS=3     rounds; each runs the lean and the botocore download once, in turn

The object comes from a moto server of its own; throughput is bounded by moto (one GIL-bound
process), so the figure is the client's own CPU (user+sys of that child, wait4), not wall time.
Also its peak RSS. Medians over the rounds; the load (os.getloadavg) is printed with them.
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
BUCKET = "bench-get"


def run(env):
    with open(os.devnull, "wb") as out:
        t0 = time.monotonic()
        p = subprocess.Popen([os.path.join(BIN, "s3-get-sts"), "--no-assume-role", "--no-progress",
                              f"s3://{BUCKET}/obj"], stdout=out, stderr=subprocess.PIPE, env=env)
        err = p.stderr.read()
        _, status, ru = os.wait4(p.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"s3-get-sts failed: {err.decode()[-500:]}")
    return ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024, time.monotonic() - t0


def main():
    sys.path.insert(0, ROOT)
    from hdfs2s3kit import localaws

    mib = int(os.environ.get("BENCH_MIB", "256"))
    rounds = int(os.environ.get("BENCH_ROUNDS", "3"))
    tmp = tempfile.mkdtemp(prefix="bench-get-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "HDFS2S3_AWS_CLIENT"}
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1",
               AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    moto, url = localaws.start_moto_server(os.path.join(tmp, "moto.log"))
    env["AWS_ENDPOINT_URL"] = url
    try:
        src = os.path.join(tmp, "obj")
        with open(src, "wb") as f:
            for _ in range(mib):
                f.write(os.urandom(1 << 20))
        with open(src, "rb") as fin:
            subprocess.run([sys.executable, "-c", f"import boto3; boto3.client('s3').create_bucket(Bucket='{BUCKET}')"],
                           env=env, check=True)
            subprocess.run([os.path.join(BIN, "s3-put-sts"), "--no-assume-role", "--no-progress",
                            f"s3://{BUCKET}/obj"], stdin=fin, stdout=subprocess.DEVNULL, env=env, check=True)
        os.unlink(src)
        rows = {"lean": dict(env), "botocore": dict(env, HDFS2S3_AWS_CLIENT="botocore")}
        got = {k: [] for k in rows}
        for _ in range(rounds):
            for name, e in rows.items():
                got[name].append(run(e))
        gib = mib / 1024
        print(f"s3-get-sts, {mib} MiB object, {rounds} interleaved rounds, load {os.getloadavg()[0]:.2f}, "
              f"{os.cpu_count()} cores")
        print(f"{'client':10} {'CPU-s':>7} {'CPU-s/GiB':>10} {'min':>7} {'max':>7} {'RSS MiB':>8} {'wall s':>7}")
        for name, vals in got.items():
            cpu = [v[0] for v in vals]
            print(f"{name:10} {statistics.median(cpu):7.2f} {statistics.median(cpu) / gib:10.2f} {min(cpu):7.2f} "
                  f"{max(cpu):7.2f} {statistics.median(v[1] for v in vals):8.1f} "
                  f"{statistics.median(v[2] for v in vals):7.1f}")
    finally:
        localaws.stop_moto_server(moto)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
