"""`--sse` (SSE-S3 and SSE-KMS) on top of the client-side Fernet encryption, through the real
commands against the moto server: S3's HeadObject shows the server-side encryption (and, for
SSE-KMS, the KMS key created in moto first), the status record says what was asked, and the
object still decrypts to the source (the two layers are independent). Multipart matters: under
SSE-KMS a part's ETag is not its MD5, so the part check must take S3's checksum instead."""

import os

import pytest

from harness import proc
from test_transfer_support import BUCKET, records

MiB = 1 << 20


@pytest.fixture
def kms_key(kit):
    meta = kit.session.client("kms").create_key(Description="hdfs2s3kit test SSE-KMS key")["KeyMetadata"]
    return meta["KeyId"], meta["Arn"]


def _head(kit, key):
    return kit.s3.head_object(Bucket=BUCKET, Key=key)


def test_transfer_sse_kms_multipart_is_encrypted_under_that_key_recorded_and_still_decrypts(kit, kms_key, tmp_path):
    key_id, key_arn = kms_key
    src = tmp_path / "ledger.bin"
    data = os.urandom(11 * MiB + 17)           # 5 MiB parts (S3's least): a multipart upload
    src.write_bytes(data)
    r = kit.transfer(f"file://{src}", f"s3://{BUCKET}/kms/", "--sse", "kms", "--sse-kms-key-id", key_id,
                     "--part-size", "5MiB")
    assert r.returncode == 0, r.stderr
    (rec,) = records(r.stdout)
    assert rec["status"] == "ok" and rec["sse"] == "aws:kms" and rec["sse_kms_key_id"] == key_id
    head = _head(kit, "kms/ledger.bin")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] in (key_id, key_arn)
    assert head["Metadata"]["h2s3-src"] == f"file://{src}"
    assert int(head["ETag"].strip('"').rsplit("-", 1)[1]) >= 3      # the multipart path ran
    assert kit.decrypt("kms/ledger.bin") == data            # our Fernet layer is under S3's
    assert not kit.open_uploads()
    v = kit.verify(f"s3://{BUCKET}/kms/ledger.bin", "--against", f"file://{src}")
    assert v.returncode == 0, v.stderr


def test_s3_put_sts_sse_s3_and_kms_through_the_pipe(kit, kms_key, tmp_path):
    key_id, _ = kms_key
    data = os.urandom(200_000)
    enc = kit.run("fernet-encrypt", input=data)
    assert enc.returncode == 0, enc.stderr
    for sse, extra, key in (("s3", [], "pipe/s3.enc"), ("kms", ["--sse-kms-key-id", key_id], "pipe/kms.enc")):
        r = kit.run("s3-put-sts", f"s3://{BUCKET}/{key}", "--sse", sse, *extra, input=enc.stdout)
        assert r.returncode == 0, r.stderr
        (rec,) = records(r.stdout)
        want = "AES256" if sse == "s3" else "aws:kms"
        assert rec["status"] == "ok" and rec["sse"] == want
        assert rec["sse_kms_key_id"] == (key_id if sse == "kms" else None)
        assert _head(kit, key)["ServerSideEncryption"] == want
        got = proc.run("s3-get-sts", f"s3://{BUCKET}/{key}", env=kit.env)
        assert got.returncode == 0, got.stderr
        assert kit.run("fernet-decrypt", input=got.stdout).stdout == data


def test_map_sse_kms_reaches_every_object(kit, kms_key, tmp_path):
    key_id, key_arn = kms_key
    srcs = []
    for i in range(3):
        p = tmp_path / f"m{i}.csv"
        p.write_bytes(b"a,b\n%d,%d\n" % (i, i * i))
        srcs.append(f"file://{p}")
    r = kit.run("hdfs2s3kit", "map", "--run-id", "sse-map", "--dest", f"s3://{BUCKET}/m", "--sse", "kms",
                "--sse-kms-key-id", key_id, input="".join(s + "\n" for s in srcs).encode())
    assert r.returncode == 0, r.stderr
    rows = [line.split("\t") for line in r.stdout.decode().splitlines()]
    assert [row[0] for row in rows] == ["ok"] * 3
    for row in rows:
        key = row[2].split("/", 3)[3]
        head = _head(kit, key)
        assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] in (key_id, key_arn)


def test_a_kms_key_without_sse_kms_is_a_usage_error_and_stores_nothing(kit, kms_key, tmp_path):
    src = tmp_path / "x.csv"
    src.write_bytes(b"x\n")
    before = kit.objects()
    for sse in ([], ["--sse", "s3"]):
        r = kit.transfer(f"file://{src}", f"s3://{BUCKET}/bad/", *sse, "--sse-kms-key-id", kms_key[0])
        assert r.returncode == 2 and b"--sse-kms-key-id needs --sse kms" in r.stderr, r.stderr
        assert b"Traceback" not in r.stderr
    r = kit.transfer(f"file://{src}", f"s3://{BUCKET}/bad/", "--sse", "dsse")
    assert r.returncode == 2 and b"--sse: 'dsse' is not s3" in r.stderr, r.stderr
    assert kit.objects() == before and not kit.open_uploads()
