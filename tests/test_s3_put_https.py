"""Uploads over HTTPS, as real S3 is: botocore then skips payload signing and
streams checksums differently, and the certificate must be verified.

A moto server of its own speaks TLS with a self-signed certificate
(localaws.self_signed_cert); clients trust it only through AWS_CA_BUNDLE.
"""

import os
import subprocess
import sys

import pytest
from harness import tls

from hdfs2s3kit import localaws

BIN = os.path.dirname(sys.executable)
BUCKET = "https-bucket"


@pytest.fixture(scope="module")
def tls_moto(tmp_path_factory):
    yield from tls.tls_moto(tmp_path_factory, BUCKET)


def _put(env, key, data, *extra):
    return subprocess.run([os.path.join(BIN, "s3-put-sts"), "--no-assume-role", "--no-progress", *extra,
                           f"s3://{BUCKET}/{key}"], input=data, capture_output=True, env=env, timeout=120)


def test_multipart_upload_over_https_arrives_whole_and_verified(tls_moto):
    env, s3, _ = tls_moto
    data = os.urandom(5 * 1024 * 1024 + 12345)   # 2 parts: the multipart path
    r = _put(env, "big", data, "--part-size", "5MiB")
    assert r.returncode == 0, r.stderr.decode()
    assert b'"checksum_verified":true' in r.stdout
    assert s3.get_object(Bucket=BUCKET, Key="big")["Body"].read() == data


def test_an_untrusted_certificate_is_refused_and_nothing_is_stored(tls_moto):
    env, s3, d = tls_moto
    other = os.path.join(d, "other")
    os.makedirs(other, exist_ok=True)
    wrong_ca, _ = localaws.self_signed_cert(other)   # a different key: does not sign the server's cert
    r = _put(dict(env, AWS_CA_BUNDLE=wrong_ca, AWS_MAX_ATTEMPTS="1"), "refused", b"secret bytes")
    assert r.returncode == 69, r.stderr.decode()
    err = r.stderr.decode()
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "refused" not in [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
