"""Shared set-up for the mapper, manifest, report, job and Spark tests: a real
config in the moto server's SSM (bucket, role, topic, a Fernet key version),
local `file://` sources, and helpers to run `hdfs2s3kit` as a subprocess.

Imported by the test modules (no tests here)."""

import json
import os
import subprocess
import threading

import pytest
from harness import proc

PREFIX = "/h2s/maptest"
BUCKET = "h2s-map-bucket"
KEY_PREFIX = "landing"
FLAG_NAMES = ("HDFS2S3_RUN_ID", "mapreduce_task_attempt_id", "mapreduce_task_id", "mapreduce_job_id")


class Kit:
    def __init__(self, env, boto, root):
        self.env = env
        self.boto = boto
        self.s3 = boto.client("s3")
        self.root = root
        self.src_dir = root / "src"
        self.src_dir.mkdir()

    def make_files(self, n, size=1024, name="f"):
        """n files of `size` bytes with distinct content; -> file:// URLs."""
        urls = []
        for i in range(n):
            p = self.src_dir / f"{name}{i:03d}.bin"
            p.write_bytes(bytes([i % 251]) * size + f"{name}{i}".encode())
            urls.append("file://" + str(p))
        return urls

    def key_for(self, url):
        return f"{KEY_PREFIX}/{url[len('file://'):].lstrip('/')}"

    def objects(self, prefix=KEY_PREFIX + "/"):
        out = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
            for o in page.get("Contents", []):
                if "/_manifests/" not in "/" + o["Key"]:
                    out[o["Key"]] = o
        return out

    def map(self, lines, *args, env=None, timeout=180):
        """`hdfs2s3kit map ARGS` with `lines` on stdin -> (rc, tsv rows, stderr text)."""
        data = "".join(line + "\n" for line in lines).encode()
        r = proc.run("hdfs2s3kit", "map", *args, input=data, env=dict(self.env, **(env or {})), timeout=timeout)
        return r.returncode, parse_tsv(r.stdout), r.stderr.decode(errors="replace")

    def concurrent_maps(self, lines, envs, *args, timeout=240):
        """Several mappers started together on the same listing -> [(rc, rows, stderr)]."""
        data = "".join(line + "\n" for line in lines).encode()
        procs = [subprocess.Popen([proc.cmd_path("hdfs2s3kit"), "map", *args], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  env=dict(os.environ, **self.env, **e)) for e in envs]
        outs = [None] * len(procs)

        def talk(i):
            outs[i] = procs[i].communicate(data, timeout=timeout)

        threads = [threading.Thread(target=talk, args=(i,)) for i in range(len(procs))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return [(p.returncode, parse_tsv(o[0]), o[1].decode(errors="replace")) for p, o in zip(procs, outs)]

    def report(self, run_id, *args):
        r = proc.run("hdfs2s3kit", "report", run_id, *args, env=self.env, timeout=120)
        return r.returncode, r.stdout.decode(), r.stderr.decode(errors="replace")

    def summary(self, run_id):
        rc, out, err = self.report(run_id, "--json")
        assert rc == 0, err
        return json.loads(out)


def parse_tsv(stdout):
    rows = []
    for line in stdout.decode().splitlines():
        cells = line.split("\t")
        assert len(cells) == 7, f"not a 7-field TSV line: {line!r}"
        rows.append(dict(zip(("status", "src", "dest", "bytes", "xxh3_128", "seconds", "message"), cells)))
    return rows


def counters(stderr):
    """Sum of reporter:counter:hdfs2s3,NAME,N lines per NAME."""
    out = {}
    for line in stderr.splitlines():
        if line.startswith("reporter:counter:hdfs2s3,"):
            _, name, n = line[len("reporter:counter:"):].split(",")
            out[name] = out.get(name, 0) + int(n)
    return out


def seed(boto, prefix=PREFIX):
    """A complete config in SSM, as `config push` + `keys create` would leave it."""
    from cryptography.fernet import Fernet

    s3 = boto.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    iam = boto.client("iam")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                    "Principal": {"AWS": "arn:aws:iam::123456789012:root"}}]}
    role = iam.create_role(RoleName="h2s-map-role", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    topic = boto.client("sns").create_topic(Name="h2s-map-topic")["TopicArn"]
    ssm = boto.client("ssm")
    ssm.put_parameter(Name=f"{prefix}/keys/fernet", Value=Fernet.generate_key().decode(), Type="SecureString")
    values = {"bucket": BUCKET, "prefix": KEY_PREFIX, "region": "us-east-1", "role_arn": role,
              "sns_topic_arn": topic, "fernet_key_version": "1", "cloudwatch_namespace": "h2s-maptest",
              "notify_on": "failure"}
    for k, v in values.items():
        ssm.put_parameter(Name=f"{prefix}/{k}", Value=v, Type="String")
    return values


@pytest.fixture
def mapkit(aws_env, boto, tmp_path, monkeypatch):
    for k in FLAG_NAMES:
        monkeypatch.delenv(k, raising=False)
    seed(boto)
    env = dict(aws_env, HDFS2S3_CONFIG=PREFIX)
    monkeypatch.setenv("HDFS2S3_CONFIG", PREFIX)
    return Kit(env, boto, tmp_path)
