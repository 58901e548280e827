"""A real local AWS: `moto_server` on 127.0.0.1, reached through AWS_ENDPOINT_URL.

The server is started once per test session; `aws_env` resets its state (and
switches IAM enforcement off) before each test that uses it.
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

REGION = "us-east-1"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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

    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "server.log"
    env = dict(os.environ, S3_UPLOAD_PART_MIN_SIZE="1024", MOTO_PORT=str(port))
    exe = os.path.join(os.path.dirname(sys.executable), "moto_server")
    with open(log, "wb") as lf:
        proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], stdout=lf, stderr=subprocess.STDOUT,
                                env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url + "/moto-api/data.json", timeout=2).read()
            break
        except Exception:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"moto_server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
    server = MotoServer(url, proc)
    yield server
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


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
