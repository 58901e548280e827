"""The mapper as a real Hadoop Streaming job on YARN (the mini cluster), launched by
`hdfs2s3kit job` — not `--print`: the toolkit shipped with -archives (bin/build-archive), the
listing on HDFS, NLineInputFormat, speculative execution off, moto reached from the tasks through
the NodeManager's environment (a node's credential chain).

Tier: what only YARN shows — the archive unpacked in a real container, Hadoop's counters read
back from the job, an attempt killed mid-upload and retried. The mapper's own logic is proven
faster in test_map.py; the archive in a hand-made task folder in test_job.py."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from harness import proc
from test_map_support import BUCKET, KEY_PREFIX, PREFIX, mapkit, parse_tsv  # noqa: F401 - fixture

BASE_PYTHON = "/usr/bin/python3"     # what the tasks run the archive with: none of our dependencies
MiB = 1 << 20


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    out = tmp_path_factory.mktemp("archive") / "hdfs2s3kit-archive.tgz"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    r = subprocess.run([sys.executable, os.path.join(root, "bin", "build-archive"), "-o", str(out)],
                       capture_output=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return out


def _mappers_of(run_id):
    """{pid: environ} of this run's `hdfs2s3kit map` processes (inside YARN containers)."""
    out = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv)
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().split(b"\0")
        except OSError:
            continue
        if env.get(b"HDFS2S3_RUN_ID") == run_id.encode() and b"map" in cmd:
            out[int(pid)] = {k.decode(): v.decode(errors="replace") for k, v in env.items()}
    return out


def _hadoop(mc, *args):
    r = subprocess.run([mc.cmd, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    return r.stdout.decode()


def test_streaming_job_moves_every_file_once_and_survives_a_killed_attempt(
        mapkit, minicluster_yarn, hdfs_home, archive, tmp_path):
    mc = minicluster_yarn
    mapkit.s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    files = {f"{hdfs_home}/big.bin": os.urandom(40 * MiB)}           # task 0: killed while uploading it
    files.update({f"{hdfs_home}/f{i}.csv": os.urandom(1000 + i) for i in range(4)})
    local = tmp_path / "hdfs-src"
    local.mkdir()
    for path, data in files.items():
        (local / os.path.basename(path)).write_bytes(data)
    (local / "listing.txt").write_text("".join(p + "\n" for p in files))
    mc.su_fs("-put", *[str(local / os.path.basename(p)) for p in files], str(local / "listing.txt"), hdfs_home)

    run_id = "yarn-run-1"
    env = dict(os.environ, **mapkit.env, **mc.env(), HADOOP_STREAMING_JAR=mc.streaming_jar)
    job = subprocess.Popen([proc.cmd_path("hdfs2s3kit"), "job", "--input", f"{hdfs_home}/listing.txt",
                            "--archive", str(archive), "--lines-per-map", "2", "--run-id", run_id,
                            "--python", BASE_PYTHON, "--config", PREFIX, "--output", f"{hdfs_home}/out"],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        # Kill the first attempt of task 0 the way the NodeManager kills a container (SIGTERM to
        # its process group: task JVM and mapper) while big.bin's multipart upload is open.
        big_key = f"{KEY_PREFIX}{hdfs_home}/big.bin"
        deadline = time.monotonic() + 600
        victim = None
        while victim is None:
            assert job.poll() is None, job.communicate()
            assert time.monotonic() < deadline, "big.bin's upload never opened"
            uploads = mapkit.s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
            if any(u["Key"] == big_key for u in uploads):
                task0 = [(pid, e) for pid, e in _mappers_of(run_id).items()
                         if e.get("mapreduce_task_id", "").endswith("_m_000000")]
                if task0:
                    victim = task0[0]
            time.sleep(0.2)
        pid, victim_env = victim
        os.killpg(os.getpgid(pid), signal.SIGTERM)
        out, err = job.communicate(timeout=900)
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
    err = err.decode(errors="replace")
    assert job.returncode == 0, err[-4000:]
    killed_attempt = victim_env["mapreduce_task_attempt_id"]

    # every file landed once: one version per key, nothing partial, no open upload
    versions = mapkit.s3.list_object_versions(Bucket=BUCKET, Prefix=f"{KEY_PREFIX}{hdfs_home}/")
    keys = [v["Key"] for v in versions.get("Versions", [])]
    assert sorted(keys) == sorted(f"{KEY_PREFIX}{p}" for p in files)
    assert mapkit.s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    for p in (f"{hdfs_home}/big.bin", f"{hdfs_home}/f3.csv"):      # bytes and HDFS's checksum, end to end
        v = proc.run("hdfs2s3kit", "verify", f"s3://{BUCKET}/{KEY_PREFIX}{p}", env=mapkit.env)
        assert v.returncode == 0, v.stderr
        assert json.loads(v.stdout)["hdfs_checksum_status"] == "match"

    # the mappers' TSV (from the successful attempts) against Hadoop's own counters for the job
    tsv = parse_tsv(_hadoop(mc, "fs", "-cat", f"{hdfs_home}/out/part-*").encode())
    assert sorted(r["src"] for r in tsv) == sorted(files)
    assert {r["status"] for r in tsv} <= {"ok", "skipped"}
    # The job's id from the killed task's own id; all its counters in one `job -status` JVM.
    job_id = "job_" + victim_env["mapreduce_task_id"].split("_", 1)[1].rsplit("_m_", 1)[0]
    status = _hadoop(mc, "job", "-status", job_id)
    assert re.search(r"^Job: " + job_id + r"$", status, re.M) and re.search(r"^Job state: SUCCEEDED", status, re.M), status
    group = re.search(r"^\thdfs2s3\n((?:\t\t.*\n)+)", status, re.M)
    assert group, status
    counters = {k: int(v) for k, v in re.findall(r"^\t\t(\w+)=(\d+)$", group.group(1), re.M)}

    ok = sum(r["status"] == "ok" for r in tsv)
    assert counters.get("files_ok", 0) == ok and counters.get("files_skipped", 0) == len(files) - ok, counters
    assert counters.get("bytes", 0) == sum(int(r["bytes"]) for r in tsv if r["status"] == "ok"), counters

    # the run manifest is complete (every file, no failure), and task 0's files were recorded by
    # another attempt than the killed one: its retry
    s = mapkit.summary(run_id)
    assert s["files"] == len(files) and s["ok"] + s["skipped"] == len(files) and s["failed"] == 0, s
    task0 = victim_env["mapreduce_task_id"]
    listing = mapkit.s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{KEY_PREFIX}/_manifests/{run_id}/{task0}/")
    attempts = {o["Key"].rsplit("/", 1)[1].rsplit("-", 1)[0] for o in listing.get("Contents", [])}
    assert attempts - {killed_attempt}, (attempts, killed_attempt)
