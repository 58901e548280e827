"""s3-get-sts and s3get: parallel ranges delivered in order, checksum checked at the end."""

import io
import json
import os

import pytest
from harness.proc import run
from harness.proxy import FaultyProxy

from hdfs2s3kit import aws, errors, s3get, s3put

MiB = 1 << 20
BUCKET = "get-bucket"


@pytest.fixture
def kit_s3(aws_env):
    return aws.s3_client(aws.base_session(), concurrency=4)


def test_multipart_object_streams_to_stdout_in_order_with_checksum_verified(aws_env, s3, kit_s3):
    data = os.urandom(13 * MiB + 7)
    s3put.upload(io.BytesIO(data), BUCKET, "obj", s3=kit_s3, part_size=5 * MiB)
    r = run("s3-get-sts", "--no-assume-role", "--chunk-size", "1MiB", "--concurrency", "3", "--summary",
            f"s3://{BUCKET}/obj", env=aws_env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == data
    rec = json.loads(r.stderr.decode().splitlines()[-1])
    assert rec["status"] == "ok" and rec["bytes"] == len(data) and rec["checksum_verified"] is True


def test_reader_serves_arbitrary_read_sizes(aws_env, s3, kit_s3):
    data = os.urandom(3 * MiB + 5)
    s3.put_object(Bucket=BUCKET, Key="o", Body=data, ChecksumAlgorithm="CRC32")
    rd = s3get.open_object(kit_s3, BUCKET, "o", chunk_size=MiB)
    out = bytearray()
    for n in (1, 10, 1000, MiB + 3, 7):
        out += rd.read(n)
    out += rd.read()
    assert bytes(out) == data and rd.read(10) == b""
    assert rd.info["checksum_verified"] is True and rd.info["checksum_algorithm"] == "CRC32"


def test_bytes_corrupted_on_the_way_down_fail_with_exit_65(aws_env, s3):
    data = os.urandom(2 * MiB)
    s3.put_object(Bucket=BUCKET, Key="c", Body=data, ChecksumAlgorithm="CRC32C")
    with FaultyProxy(aws_env["AWS_ENDPOINT_URL"], corrupt_reply_at=MiB, corruptions=1) as proxy:
        r = run("s3-get-sts", "--no-assume-role", "--chunk-size", "4MiB", f"s3://{BUCKET}/c",
                env={**aws_env, "AWS_ENDPOINT_URL": proxy.url})
        assert proxy.corruptions_done == 1
    assert r.returncode == 65
    err = r.stderr.decode().strip()
    assert err.startswith(f"s3-get-sts: s3://{BUCKET}/c: CRC32C of the downloaded bytes") and "\n" not in err


def test_connection_reset_during_a_range_is_retried(aws_env, s3):
    data = os.urandom(3 * MiB)
    s3.put_object(Bucket=BUCKET, Key="r", Body=data)
    with FaultyProxy(aws_env["AWS_ENDPOINT_URL"], cut_after=100, cuts=1) as proxy:
        r = run("s3-get-sts", "--no-assume-role", f"s3://{BUCKET}/r", env={**aws_env, "AWS_ENDPOINT_URL": proxy.url})
        assert proxy.cuts_done == 1
    assert r.returncode == 0, r.stderr
    assert r.stdout == data


def test_object_replaced_during_download_is_an_error(aws_env, s3, kit_s3):
    s3.put_object(Bucket=BUCKET, Key="v", Body=os.urandom(3 * MiB))
    rd = s3get.open_object(kit_s3, BUCKET, "v", chunk_size=MiB, concurrency=1)
    rd.read(10)
    s3.put_object(Bucket=BUCKET, Key="v", Body=os.urandom(3 * MiB))
    with pytest.raises(errors.DataError, match="changed during the download"):
        rd.read()


def test_missing_object_and_missing_bucket_are_exit_66_and_told_apart(aws_env, s3):
    r = run("s3-get-sts", "--no-assume-role", f"s3://{BUCKET}/nope", env=aws_env)
    assert r.returncode == 66 and r.stdout == b""
    assert r.stderr.decode() == f"s3-get-sts: no such object: s3://{BUCKET}/nope (the bucket exists)\n"
    r = run("s3-get-sts", "--no-assume-role", "s3://no-such-bucket-here/nope", env=aws_env)
    assert r.returncode == 66 and r.stdout == b""
    assert r.stderr.decode() == "s3-get-sts: no such bucket: no-such-bucket-here\n"


def test_download_returns_a_record_and_empty_objects_work(aws_env, s3, kit_s3):
    s3.put_object(Bucket=BUCKET, Key="empty", Body=b"")
    out = io.BytesIO()
    rec = s3get.download(kit_s3, BUCKET, "empty", out)
    assert rec["status"] == "ok" and rec["bytes"] == 0 and out.getvalue() == b""


@pytest.mark.parametrize("algo", ["CRC32", "CRC32C"])
def test_composite_checksum_of_another_uploader_is_verified_per_part(aws_env, s3, kit_s3, algo):
    # what aws-cli/boto3 create: COMPOSITE checksums over equal parts
    part, data = 5 * MiB + 17, os.urandom(2 * (5 * MiB + 17) + 1000)
    up = s3.create_multipart_upload(Bucket=BUCKET, Key="comp", ChecksumAlgorithm=algo)["UploadId"]
    parts = []
    for i in range(3):
        r = s3.upload_part(Bucket=BUCKET, Key="comp", UploadId=up, PartNumber=i + 1,
                           Body=data[i * part:(i + 1) * part], ChecksumAlgorithm=algo)
        parts.append({"PartNumber": i + 1, "ETag": r["ETag"], "Checksum" + algo: r["Checksum" + algo]})
    s3.complete_multipart_upload(Bucket=BUCKET, Key="comp", UploadId=up, MultipartUpload={"Parts": parts})
    rd = s3get.open_object(kit_s3, BUCKET, "comp", chunk_size=MiB)
    assert rd.read() == data
    # (the emulator's HEAD leaves out the type and the -N suffix: the reader works it out)
    assert rd.info["checksum_type"] == "COMPOSITE" and rd.info["checksum_verified"] is True


def test_corrupted_composite_object_is_detected(aws_env, s3):
    part, data = 5 * MiB, os.urandom(10 * MiB + 5)
    up = s3.create_multipart_upload(Bucket=BUCKET, Key="comp2", ChecksumAlgorithm="CRC32")["UploadId"]
    parts = []
    for i in range(3):
        r = s3.upload_part(Bucket=BUCKET, Key="comp2", UploadId=up, PartNumber=i + 1,
                           Body=data[i * part:(i + 1) * part], ChecksumAlgorithm="CRC32")
        parts.append({"PartNumber": i + 1, "ETag": r["ETag"], "ChecksumCRC32": r["ChecksumCRC32"]})
    s3.complete_multipart_upload(Bucket=BUCKET, Key="comp2", UploadId=up, MultipartUpload={"Parts": parts})
    with FaultyProxy(aws_env["AWS_ENDPOINT_URL"], corrupt_reply_at=2 * MiB, corruptions=1) as proxy:
        r = run("s3-get-sts", "--no-assume-role", "--concurrency", "1", "--chunk-size", "16MiB",
                f"s3://{BUCKET}/comp2", env={**aws_env, "AWS_ENDPOINT_URL": proxy.url})
        assert proxy.corruptions_done == 1
    assert r.returncode == 65
    assert "composite over parts of 5242880 bytes" in r.stderr.decode()
