"""Mapper per-file overhead: 1,000 files of 10 KiB through one `hdfs2s3kit map` process
(file:// sources) into a local moto server, beside separate `hdfs2s3kit transfer`
processes (20 measured, scaled to the same count). Target: <= 50 ms per file.

    python bench/bench_mapper.py [--files 1000] [--reference 20]

"Overhead beyond its bytes": the mapper's marginal time per file, (T(N) - T(1)) / (N - 1),
minus the time its 10 KiB take at the throughput measured on one 32 MiB file in the same run.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

BIN = os.path.dirname(sys.executable)
PREFIX = "/h2s/bench"
BUCKET = "h2s-bench"
SIZE = 10 * 1024
TARGET_MS = 50.0


def start_moto(logdir):
    import awscrt  # noqa: F401 - must be importable before the server starts (CRC32C)
    import crc32c  # noqa: F401
    from hdfs2s3kit import errors, localaws

    try:
        return localaws.start_moto_server(os.path.join(logdir, "moto.log"))
    except errors.UnavailableError as e:
        raise SystemExit(f"bench_mapper: {e.message}") from None


def seed(env):
    import boto3
    from cryptography.fernet import Fernet

    os.environ.update(env)
    s = boto3.session.Session(region_name="us-east-1")
    s.client("s3").create_bucket(Bucket=BUCKET)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                    "Principal": {"AWS": "arn:aws:iam::123456789012:root"}}]}
    role = s.client("iam").create_role(RoleName="h2s-bench", AssumeRolePolicyDocument=json.dumps(trust))
    topic = s.client("sns").create_topic(Name="h2s-bench")["TopicArn"]
    ssm = s.client("ssm")
    ssm.put_parameter(Name=f"{PREFIX}/keys/fernet", Value=Fernet.generate_key().decode(), Type="SecureString")
    for k, v in {"bucket": BUCKET, "prefix": "bench", "region": "us-east-1", "role_arn": role["Role"]["Arn"],
                 "sns_topic_arn": topic, "fernet_key_version": "1", "notify_on": "failure"}.items():
        ssm.put_parameter(Name=f"{PREFIX}/{k}", Value=v, Type="String")


def make_files(folder, n, size):
    os.makedirs(folder, exist_ok=True)
    urls = []
    for i in range(n):
        path = os.path.join(folder, f"f{i:05d}.bin")
        with open(path, "wb") as f:
            f.write(os.urandom(size))
        urls.append("file://" + path)
    return urls


def run_map(urls, env, tag):
    data = "".join(u + "\n" for u in urls).encode()
    t0 = time.perf_counter()
    r = subprocess.run([os.path.join(BIN, "hdfs2s3kit"), "map", "--run-id", tag, "--dest", f"s3://{BUCKET}/{tag}"],
                       input=data, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t0
    rows = r.stdout.decode().splitlines()
    ok = sum(1 for line in rows if line.startswith("ok\t"))
    if r.returncode or ok != len(urls):
        raise SystemExit(f"bench_mapper: map {tag} failed (exit {r.returncode}, {ok}/{len(urls)} ok): "
                         f"{r.stderr.decode()[-1500:]}")
    return dt


def run_transfers(urls, env, tag):
    t0 = time.perf_counter()
    for u in urls:
        r = subprocess.run([os.path.join(BIN, "hdfs2s3kit"), "transfer", u, f"s3://{BUCKET}/{tag}/"],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode:
            raise SystemExit(f"bench_mapper: transfer failed: {r.stderr.decode()[-1000:]}")
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=int(os.environ.get("BENCH_MAPPER_FILES", 1000)))
    ap.add_argument("--reference", type=int, default=20, help="separate transfer processes measured")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="h2s-bench-mapper-")
    server, url = start_moto(work)
    try:
        env = dict(os.environ, AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                   AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
                   AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull, HDFS2S3_CONFIG=PREFIX)
        env.pop("AWS_PROFILE", None)
        seed(env)
        urls = make_files(os.path.join(work, "src"), a.files, SIZE)
        big = make_files(os.path.join(work, "big"), 1, 32 * 1024 * 1024)
        one = make_files(os.path.join(work, "one"), 1, SIZE)

        t_big = run_map(big, env, "big") - run_map(one, env, "one-a")       # 32 MiB minus set-up and one file
        mb_s = 32 / max(t_big, 1e-3)
        t_one = run_map(make_files(os.path.join(work, "one2"), 1, SIZE), env, "one-b")
        t_n = run_map(urls, env, "many")
        bytes_ms = SIZE / 1048576 / mb_s * 1000
        marginal_ms = (t_n - t_one) / max(a.files - 1, 1) * 1000
        overhead_ms = marginal_ms - bytes_ms

        ref = make_files(os.path.join(work, "ref"), a.reference, SIZE)
        t_ref = run_transfers(ref, env, "ref")
        ref_ms = t_ref / a.reference * 1000
        print(f"files: {a.files} x {SIZE // 1024} KiB (file:// sources), moto at {url}")
        print(f"{'method':<44}{'wall s':>10}{'ms/file':>10}")
        print(f"{'hdfs2s3kit map, one process':<44}{t_n:>10.2f}{t_n / a.files * 1000:>10.1f}")
        print(f"{'  of which task set-up (1-file run)':<44}{t_one:>10.2f}")
        print(f"{'  marginal per file':<44}{'':>10}{marginal_ms:>10.1f}")
        print(f"{'  its bytes (at %.0f MB/s, 32 MiB file)' % mb_s:<44}{'':>10}{bytes_ms:>10.2f}")
        print(f"{'  overhead beyond its bytes':<44}{'':>10}{overhead_ms:>10.1f}   target <= {TARGET_MS:.0f}: "
              f"{'PASS' if overhead_ms <= TARGET_MS else 'MISS'}")
        print(f"{'hdfs2s3kit transfer, a process per file':<44}{t_ref / a.reference * a.files:>10.2f}"
              f"{ref_ms:>10.1f}   ({a.reference} measured, scaled to {a.files})")
        print(f"ratio: one mapper is {ref_ms / (t_n / a.files * 1000):.1f}x faster per file than a process per file")
    finally:
        from hdfs2s3kit import localaws

        localaws.stop_moto_server(server)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
