"""Which AWS client a command gets (leanaws.plan), and that the lean path imports no botocore."""

import os
import subprocess
import sys

import pytest

from hdfs2s3kit import leanaws


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for k in list(os.environ):
        if k.startswith("AWS_") or k.lower().endswith("_proxy") or k == leanaws.ENV_VAR:
            monkeypatch.delenv(k)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    return tmp_path


def test_env_keys_are_lean(clean_env, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AK")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "SK")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "TOK")
    p = leanaws.plan()
    assert p.lean and p.source == "env" and p.region == "eu-west-1"
    assert p.credentials.get() == ("AK", "SK", "TOK")


def test_profile_static_keys_are_lean(clean_env, monkeypatch):
    (clean_env / "credentials").write_text("[dev]\naws_access_key_id = A\naws_secret_access_key = S\n")
    (clean_env / "config").write_text("[profile dev]\nregion = us-west-2\n")
    monkeypatch.setenv("AWS_PROFILE", "dev")
    monkeypatch.delenv("AWS_REGION")
    p = leanaws.plan()
    assert p.lean and p.region == "us-west-2" and p.credentials.get() == ("A", "S", None)


@pytest.mark.parametrize("setup,reason", [
    (lambda d, m: m.setenv(leanaws.ENV_VAR, "botocore"), "HDFS2S3_AWS_CLIENT"),
    (lambda d, m: m.setenv("HTTPS_PROXY", "http://127.0.0.1:3128"), "proxies"),
    (lambda d, m: m.setenv("AWS_USE_FIPS_ENDPOINT", "true"), "FIPS"),
    (lambda d, m: (d / "config").write_text("[default]\nsso_session = x\n"), "sso_session"),
    (lambda d, m: (d / "config").write_text("[default]\ncredential_process = /bin/x\n"), "credential_process"),
    (lambda d, m: m.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "/tmp/t"), "web identity"),
    (lambda d, m: None, "no static credentials"),
    (lambda d, m: m.setenv("AWS_ACCESS_KEY_ID", "only-half"), "partial"),
])
def test_anything_else_falls_back_to_botocore_with_a_reason(clean_env, monkeypatch, setup, reason):
    if reason not in ("no static credentials", "partial", "sso_session", "credential_process", "web identity"):
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AK")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "SK")
    setup(clean_env, monkeypatch)
    p = leanaws.plan()
    assert not p.lean and reason.split()[0].lower() in p.reason.lower(), p.reason


def test_access_point_arn_falls_back(clean_env, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AK")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "SK")
    assert not leanaws.plan(buckets=["arn:aws:s3:eu-west-1:1:accesspoint/x"]).lean


def test_the_s3_put_sts_command_imports_no_botocore():
    code = "import sys, hdfs2s3kit.cli.s3_put_sts; print([m for m in sys.modules if m.startswith(('boto', 'awscrt'))])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_upload_through_the_lean_client_uses_no_botocore(aws_env, boto):
    boto.client("s3").create_bucket(Bucket="lean-bucket")
    code = ("import io, sys\nfrom hdfs2s3kit import aws, leanaws, s3put\n"
            "p = leanaws.plan()\nassert p.lean, p.reason\n"
            "s3 = aws.s3_client(leanaws.LeanSession(p.region, p.credentials, p.source))\n"
            "rec = s3put.upload(io.BytesIO(b'x' * 70000), 'lean-bucket', 'k', s3=s3, part_size=5 << 20)\n"
            "assert rec['status'] == 'ok' and rec['checksum_verified'], rec\n"
            "print([m for m in sys.modules if m.startswith('boto')])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ, **aws_env))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    assert boto.client("s3").get_object(Bucket="lean-bucket", Key="k")["Body"].read() == b"x" * 70000


def test_lost_create_response_is_not_retried_by_the_lean_client():
    from hdfs2s3kit import s3create, s3wire

    c = s3wire.S3Client(leanaws.StaticCredentials("a", "b"), "us-east-1")
    s3create.create_once(c)
    assert "CreateMultipartUpload" in c.meta.events.no_retry
