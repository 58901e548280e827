"""Against a real HDFS (the test mini cluster, tests/minicluster): `hadoop fs -cat` vs
`hdfs2s3kit cat`; authz-check over 1,000 HDFS paths (JVM launches, seconds); the added cost of the
HDFS checksum proof (transfer with hdfs_checksum on vs off: per file, per GiB); and, with YARN, a
Streaming job of 100 small files vs the same files through one `hdfs2s3kit map` process.

Env: H2S_BENCH_HDFS_MIB (256: size of the read), H2S_BENCH_PATHS (1000), H2S_BENCH_FILES (100),
H2S_BENCH_YARN (1; 0 leaves the Streaming job out).
"""

import grp
import json
import os
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "tests"))

from harness import minicluster  # noqa: E402
from harness.minicluster import world_tmp  # noqa: E402

BIN = os.path.dirname(sys.executable)
MIB = int(os.environ.get("H2S_BENCH_HDFS_MIB", 256))
PATHS = int(os.environ.get("H2S_BENCH_PATHS", 1000))
FILES = int(os.environ.get("H2S_BENCH_FILES", 100))
YARN = os.environ.get("H2S_BENCH_YARN", "1") != "0"


def timed(argv, env, stdin=None):
    t = time.perf_counter()
    r = subprocess.run(argv, env=env, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return time.perf_counter() - t, r


def ok(r):
    assert r.returncode == 0, r.stderr.decode(errors="replace")[-2000:]
    return r


def seed_aws(env):
    """A config, key, bucket and role in the local moto server (as the tests seed them)."""
    os.environ.update(env)
    import boto3

    from test_map_support import PREFIX, seed

    seed(boto3.session.Session(region_name="us-east-1"))
    return PREFIX


def bench_cat(mc, env, tmp):
    local = os.path.join(tmp, "big.bin")
    with open(local, "wb") as f:
        for _ in range(MIB):
            f.write(os.urandom(1 << 20))
    mc.su_fs("-put", local, "/user/bench/big.bin")
    os.unlink(local)
    print(f"\nread {MIB} MiB from HDFS (2 DataNodes, replication 2) to /dev/null")
    ref = None
    for name, argv in (("hadoop fs -cat", [mc.cmd, "fs", "-cat", "/user/bench/big.bin"]),
                       ("hdfs2s3kit cat (length and exit checked)",
                        [os.path.join(BIN, "hdfs2s3kit"), "cat", "/user/bench/big.bin"])):
        secs = min(timed(argv, env)[0] for _ in range(2))
        ref = ref or secs
        print(f"  {name:<44} {MIB / secs:8.1f} MiB/s  {ref / secs:5.2f}x", flush=True)


def bench_authz(mc, env, tmp):
    d = os.path.join(tmp, "many")
    os.mkdir(d)
    for i in range(PATHS):
        open(os.path.join(d, f"f{i:05d}"), "wb").close()
    mc.su_fs("-put", d, "/user/bench/many")
    paths = "".join(f"/user/bench/many/f{i:05d}\n" for i in range(PATHS)).encode()
    before = mc.launches()
    secs, r = timed([os.path.join(BIN, "authz-check")], env, stdin=paths)
    ok(r)
    one, _ = timed([mc.cmd, "fs", "-stat", "%g", "/user/bench/many/f00000"], env)
    print(f"\nauthz-check of {PATHS} HDFS paths: {secs:.2f} s, {mc.launches() - before} JVM launch(es); "
          f"one `hadoop fs -stat` per path would be ~{one * PATHS:.0f} s ({one:.2f} s x {PATHS})", flush=True)


def bench_checksum_cost(mc, env, tmp, prefix):
    import boto3

    ssm = boto3.session.Session(region_name="us-east-1").client("ssm")
    small = os.path.join(tmp, "small")
    os.mkdir(small)
    for i in range(FILES):
        with open(os.path.join(small, f"s{i:03d}.csv"), "wb") as f:
            f.write(os.urandom(10_000))
    mc.su_fs("-put", small, "/user/bench/small")
    srcs = [f"/user/bench/small/s{i:03d}.csv" for i in range(FILES)]
    print(f"\nthe HDFS checksum proof: transfer with hdfs_checksum on vs off (--force, same files)")
    rows = {}
    for mode in ("off", "on"):
        ssm.put_parameter(Name=f"{prefix}/hdfs_checksum", Value=mode, Type="String", Overwrite=True)
        t_small, r = timed([os.path.join(BIN, "hdfs2s3kit"), "transfer", "--force", *srcs], env)
        ok(r)
        t_big, r = timed([os.path.join(BIN, "hdfs2s3kit"), "transfer", "--force", "/user/bench/big.bin"], env)
        ok(r)
        rec = json.loads(r.stdout.decode().splitlines()[-1])
        rows[mode] = (t_small, t_big, rec.get("hdfs_checksum_status"))
    (s0, b0, _), (s1, b1, st) = rows["off"], rows["on"]
    print(f"  {FILES} files of 10 kB: {s0:.2f} s off, {s1:.2f} s on: {(s1 - s0) / FILES * 1000:+.1f} ms per file")
    print(f"  {MIB} MiB file: {b0:.2f} s off, {b1:.2f} s on: {(b1 - b0) * 1024 / MIB:+.2f} s per GiB "
          f"(status with the proof: {st})", flush=True)
    ssm.put_parameter(Name=f"{prefix}/hdfs_checksum", Value="on", Type="String", Overwrite=True)


def bench_streaming(mc, env, tmp, prefix):
    mc.start_yarn()
    archive = os.path.join(tmp, "hdfs2s3kit-archive.tgz")
    ok(subprocess.run([sys.executable, os.path.join(here, "..", "bin", "build-archive"), "-o", archive],
                      capture_output=True))
    listing = os.path.join(tmp, "listing.txt")
    with open(listing, "w") as f:
        f.writelines(f"/user/bench/small/s{i:03d}.csv\n" for i in range(FILES))
    mc.su_fs("-put", listing, "/user/bench/listing.txt")
    jenv = dict(env, HADOOP_STREAMING_JAR=mc.streaming_jar)
    t_job, r = timed([os.path.join(BIN, "hdfs2s3kit"), "job", "--input", "/user/bench/listing.txt",
                      "--archive", archive, "--lines-per-map", str(max(1, FILES // 2)), "--run-id", "bench-job",
                      "--python", "/usr/bin/python3", "--config", prefix, "--force",
                      "--output", "/user/bench/out"], jenv)
    ok(r)
    with open(listing, "rb") as f:
        t_map, r = timed([os.path.join(BIN, "hdfs2s3kit"), "map", "--run-id", "bench-map", "--force"], env,
                         stdin=f.read())
    ok(r)
    print(f"\n{FILES} small files: Hadoop Streaming job on the mini YARN (2 map tasks) {t_job:.1f} s; "
          f"one `hdfs2s3kit map` process {t_map:.1f} s ({t_job / t_map:.1f}x)", flush=True)


def main():
    why = minicluster.skip_reason()
    if why:
        print(f"bench hadoop: skipped: {why}")
        return 0
    from hdfs2s3kit import localaws

    tmp = tempfile.mkdtemp(prefix="h2s-bench-hadoop-")
    moto, url = localaws.start_moto_server(os.path.join(tmp, "moto.log"), env={"S3_UPLOAD_PART_MIN_SIZE": "1024"})
    aws = {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
           "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    t = time.perf_counter()
    mc = minicluster.start(world_tmp("h2s-bench-mini-"), env=aws)
    print(f"mini cluster (HDFS) up in {time.perf_counter() - t:.1f} s ({os.cpu_count()} cores)", flush=True)
    try:
        prefix = seed_aws(aws)
        env = dict(os.environ, **aws, **mc.env(), HDFS2S3_CONFIG=prefix)
        mc.su_fs("-mkdir", "-p", "/user/bench")
        mc.su_fs("-chgrp", grp.getgrgid(os.getgid()).gr_name, "/user/bench")   # files inherit it: ours to move
        bench_cat(mc, env, tmp)
        bench_authz(mc, env, tmp)
        bench_checksum_cost(mc, env, tmp, prefix)
        if YARN:
            bench_streaming(mc, env, tmp, prefix)
    finally:
        mc.stop()
        localaws.stop_moto_server(moto)
        subprocess.run(["rm", "-rf", tmp, str(mc.base)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
