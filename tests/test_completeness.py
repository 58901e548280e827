"""What the record says about how an upload was proven whole, and the length fingerprint
that an announced length leaves on the object."""

import json
import os

import subprocess

import pytest
from harness.proc import BIN, run

BUCKET = "whole-bucket"


@pytest.fixture
def keyfile(tmp_path):
    from cryptography.fernet import Fernet

    p = tmp_path / "k"
    p.write_bytes(Fernet.generate_key())
    p.chmod(0o600)
    return str(p)


def sh(script, env):
    return subprocess.run(["bash", "-c", script, BIN], env={**os.environ, **env}, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=120)


def test_each_upload_says_how_its_completeness_was_proven(aws_env, s3, keyfile, tmp_path):
    data = os.urandom(5000)
    src = tmp_path / "f.bin"
    src.write_bytes(data)
    enc = run("fernet-encrypt", "--key-file", keyfile, input=data).stdout
    announced = sh(f'"$0/hdfs2s3kit" cat --announce file://{src} | "$0/fernet-encrypt" --key-file {keyfile} '
                   '--announced', aws_env).stdout
    cases = [("raw", data, [], "unproven"), ("sized", data, ["--expected-size", "5000"], "expected_size"),
             ("framed", enc, [], "final_frame"), ("announced", announced, [], "announced_length")]
    for key, body, args, how in cases:
        r = run("s3-put-sts", "--no-assume-role", *args, f"s3://{BUCKET}/{key}", input=body, env=aws_env)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["completeness"] == how, key
    meta = s3.head_object(Bucket=BUCKET, Key="announced")["Metadata"]
    assert meta["h2s3-src-length"] == "5000" and meta["h2s3-format"] == "2"
    assert "h2s3-src-length" not in s3.head_object(Bucket=BUCKET, Key="framed")["Metadata"]


def test_a_short_announced_stream_is_never_sealed_and_never_stored(aws_env, s3, keyfile, tmp_path):
    src = tmp_path / "g.bin"
    src.write_bytes(os.urandom(6 << 20))
    # the announcement promises 6 MiB; the "reader" dies after 5 MiB of it
    r = sh(f'"$0/hdfs2s3kit" cat --announce file://{src} | head -c $((5 << 20)) | '
           f'"$0/fernet-encrypt" --key-file {keyfile} --announced | "$0/s3-put-sts" --no-assume-role '
           f's3://{BUCKET}/g; echo "${{PIPESTATUS[*]}}" >&2', aws_env)
    err = r.stderr.decode()
    assert err.rstrip().endswith("74 74"), err
    rec = json.loads(r.stdout)
    assert rec["status"] == "truncated" and rec["object_exists"] is False
    assert s3.list_objects_v2(Bucket=BUCKET).get("Contents") is None
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
