"""s3-put-sts as a real subprocess against the local S3: what gets created, and what never does."""

import json
import os

import pytest
from harness.moto import nothing_left
from harness.proc import run

MiB = 1 << 20
BUCKET = "put-bucket"


def put(env, key, data, *args):
    r = run("s3-put-sts", "--no-assume-role", *args, f"s3://{BUCKET}/{key}", input=data, env=env)
    lines = r.stdout.decode().splitlines()
    assert len(lines) == 1, f"expected exactly one status line, got {r.stdout!r} / {r.stderr!r}"
    return r, json.loads(lines[0])


def test_raw_stream_becomes_a_multipart_object_with_a_verified_full_object_checksum(aws_env, s3):
    data = os.urandom(12 * MiB + 123)
    r, rec = put(aws_env, "raw.bin", data, "--part-size", "5MiB")
    assert r.returncode == 0, r.stderr
    assert s3.get_object(Bucket=BUCKET, Key="raw.bin")["Body"].read() == data
    assert rec["status"] == "ok" and rec["exit_code"] == 0 and rec["error"] is None
    assert rec["bytes"] == len(data) and rec["parts"] == 3
    assert rec["part_sizes"] == [5 * MiB, 2 * MiB + 123]
    assert rec["checksum_type"] == "FULL_OBJECT" and rec["checksum_verified"] is True
    head = s3.head_object(Bucket=BUCKET, Key="raw.bin", ChecksumMode="ENABLED")
    assert head["Checksum" + rec["checksum_algorithm"]] == rec["checksum"]
    assert rec["framed"] is False and rec["aborted"] is False
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_record_names_the_effective_user_not_the_user_environment_variables(aws_env, s3):
    import pwd

    env = dict(aws_env, USER="mallory", LOGNAME="mallory")
    r, rec = put(env, "who.txt", b"audit me\n")
    assert r.returncode == 0, r.stderr
    assert rec["user"] == pwd.getpwuid(os.geteuid()).pw_name != "mallory"


def test_input_smaller_than_a_part_is_a_single_put_object(aws_env, s3):
    r, rec = put(aws_env, "small.txt", b"hello, world\n")
    assert r.returncode == 0, r.stderr
    assert rec["parts"] == 1 and rec["upload_id"] is None
    assert s3.get_object(Bucket=BUCKET, Key="small.txt")["Body"].read() == b"hello, world\n"


@pytest.mark.parametrize("algo", ["CRC32", "CRC32C", "CRC64NVME"])
def test_each_checksum_algorithm_matches_what_s3_computed(aws_env, s3, algo):
    data = os.urandom(6 * MiB)
    r, rec = put(aws_env, f"c-{algo}", data, "--part-size", "5MiB", "--checksum-algorithm", algo)
    assert r.returncode == 0, r.stderr
    assert rec["checksum_algorithm"] == algo and rec["checksum_verified"] is True
    head = s3.head_object(Bucket=BUCKET, Key=f"c-{algo}", ChecksumMode="ENABLED")
    assert head["Checksum" + algo] == rec["checksum"]


def test_existing_key_is_refused_without_overwrite_and_replaced_with_it(aws_env, s3):
    s3.put_object(Bucket=BUCKET, Key="taken", Body=b"original")
    for data in (b"small new", os.urandom(6 * MiB)):          # single PUT and multipart
        r, rec = put(aws_env, "taken", data, "--part-size", "5MiB")
        assert r.returncode == 73
        assert r.stderr.decode().strip() == \
            f"s3-put-sts: s3://{BUCKET}/taken already exists (pass --overwrite to replace it)"
        assert rec["status"] == "exists"
        assert s3.get_object(Bucket=BUCKET, Key="taken")["Body"].read() == b"original"
        assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    r, rec = put(aws_env, "taken", b"replacement", "--overwrite")
    assert r.returncode == 0 and rec["status"] == "ok"
    assert s3.get_object(Bucket=BUCKET, Key="taken")["Body"].read() == b"replacement"


@pytest.mark.parametrize("size", [3 * MiB, 6 * MiB])
def test_input_shorter_than_expected_size_aborts_and_leaves_nothing(aws_env, s3, size):
    r, rec = put(aws_env, "short", os.urandom(size), "--part-size", "5MiB", "--expected-size", str(size + 1))
    assert r.returncode == 74
    assert f"input ended after {size} of the expected {size + 1} bytes" in r.stderr.decode()
    assert rec["status"] == "truncated" and rec["exit_code"] == 74
    assert nothing_left(s3, BUCKET, "short")


@pytest.mark.parametrize("size", [100, 6 * MiB])
def test_input_longer_than_expected_size_is_refused(aws_env, s3, size):
    r, rec = put(aws_env, "long", os.urandom(size + 1), "--part-size", "5MiB", "--expected-size", str(size))
    assert r.returncode == 65
    assert f"longer than the expected size of {size} bytes" in r.stderr.decode()
    assert rec["status"] == "bad_data"
    assert nothing_left(s3, BUCKET, "long")


def test_exact_expected_size_is_accepted(aws_env, s3):
    data = os.urandom(MiB)
    r, rec = put(aws_env, "exact", data, "--expected-size", "1MiB")
    assert r.returncode == 0 and rec["bytes"] == MiB


def test_empty_input_creates_no_object_unless_expected_size_is_zero(aws_env, s3):
    r, rec = put(aws_env, "empty", b"")
    assert r.returncode == 66 and "empty input" in r.stderr.decode()
    assert nothing_left(s3, BUCKET, "empty")
    r, rec = put(aws_env, "empty", b"", "--expected-size", "0")
    assert r.returncode == 0 and rec["bytes"] == 0
    assert s3.head_object(Bucket=BUCKET, Key="empty")["ContentLength"] == 0


def test_metadata_is_stored_on_the_object(aws_env, s3):
    r, rec = put(aws_env, "meta", b"x" * 10, "--metadata", "source=/data/q3.csv", "--metadata", "Owner=etl")
    assert r.returncode == 0, r.stderr
    assert s3.head_object(Bucket=BUCKET, Key="meta")["Metadata"] == {"source": "/data/q3.csv", "owner": "etl"}


@pytest.mark.parametrize("args,needle", [
    (["s3://"], "no bucket"),
    (["s3://bucket-only"], "no object key"),
    (["/local/path"], "not an s3:// URL"),
    (["--metadata", "novalue", "s3://b/k"], "--metadata"),
    (["--part-size", "1MiB", "s3://b/k"], "part size"),
    (["--expected-size", "lots", "s3://b/k"], "--expected-size: not a size"),
    (["--checksum-algorithm", "MD5", "s3://b/k"], "unknown checksum algorithm"),
])
def test_bad_arguments_are_usage_errors_with_one_line(aws_env, args, needle):
    r = run("s3-put-sts", "--no-assume-role", *args, input=b"data", env=aws_env)
    assert r.returncode == 2, r.stderr
    err = r.stderr.decode().strip()
    assert err.startswith("s3-put-sts: ") and needle in err and "\n" not in err
    assert json.loads(r.stdout)["status"] == "usage"


def test_missing_bucket_fails_with_a_clear_message(aws_env):
    r = run("s3-put-sts", "--no-assume-role", "s3://no-such-bucket/k", input=b"data", env=aws_env)
    assert r.returncode == 66
    assert "NoSuchBucket" in r.stderr.decode()


def test_no_role_and_no_config_is_a_config_error(aws_env):
    r = run("s3-put-sts", f"s3://{BUCKET}/k", input=b"data", env=aws_env)
    assert r.returncode == 78
    assert "HDFS2S3_CONFIG" in r.stderr.decode()
