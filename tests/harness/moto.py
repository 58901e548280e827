"""A real local AWS: `moto_server` on 127.0.0.1, reached through AWS_ENDPOINT_URL.

The server is started once per test session; `aws_env` resets its state (and
switches IAM enforcement off) before each test that uses it.
"""

import os
import urllib.request

import pytest

REGION = "us-east-1"


def _post(url, body=b"", content_type="application/json"):
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": content_type})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read()


class MotoServer:
    def __init__(self, url, proc):
        self.url = url
        self.proc = proc

    def reset(self):
        self.set_auth(False)
        _post(self.url + "/moto-api/reset")

    def set_auth(self, enforce):
        """IAM enforcement is global to the server: '0' enforces from now on, 'inf' turns it off."""
        _post(self.url + "/moto-api/reset-auth", b"0" if enforce else b"inf", "text/plain")

    def env(self):
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
        }


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory):
    import awscrt  # noqa: F401 - must be importable before the server starts (CRC32C/CRC64NVME)
    import crc32c  # noqa: F401

    from hdfs2s3kit import localaws

    log = tmp_path_factory.mktemp("moto") / "server.log"
    proc, url = localaws.start_moto_server(log, env={"S3_UPLOAD_PART_MIN_SIZE": "1024"})
    server = MotoServer(url, proc)
    yield server
    localaws.stop_moto_server(proc)


@pytest.fixture
def aws_env(moto_server, monkeypatch):
    """Fresh server state; the env (also applied to this process) that points clients at it."""
    moto_server.reset()
    env = moto_server.env()
    for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
              "HDFS2S3_CONFIG"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    # An empty config file keeps a developer's ~/.aws out of the tests.
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    env.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    yield env
    moto_server.set_auth(False)


@pytest.fixture
def boto(aws_env):
    """In-process boto3 session against the server, for setting up and reading back."""
    import boto3

    return boto3.session.Session(region_name=REGION)


@pytest.fixture
def s3(boto, request):
    """An S3 client against the server, with the test module's BUCKET created."""
    c = boto.client("s3")
    c.create_bucket(Bucket=request.module.BUCKET)
    return c


def nothing_left(s3, bucket, key):
    """No object `key` and no multipart upload at all in `bucket`: what a refused or
    failed upload must leave behind."""
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return key not in keys and s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
