"""`hdfs2s3kit verify`: download, decrypt, check; catch swapped objects and changed sources."""

import json
import os

from test_transfer_support import BUCKET, records


def _send(kit, path, data):
    path.write_bytes(data)
    r = kit.transfer(f"file://{path}")
    assert r.returncode == 0, r.stderr
    return records(r.stdout)[0]


def test_verify_decrypts_the_object_and_agrees_with_the_source(kit, tmp_path):
    data = os.urandom(3 * (1 << 20) + 7)
    sent = _send(kit, tmp_path / "good.bin", data)
    r = kit.verify(f"s3://{BUCKET}/{sent['key']}", "--against", f"file://{tmp_path}/good.bin")
    assert r.returncode == 0, r.stderr
    (rec,) = records(r.stdout)
    assert rec["status"] == "ok" and rec["tool"] == "verify"
    assert rec["src_bytes"] == len(data)
    assert rec["xxh3_128"] == sent["xxh3_128"]
    assert rec["stream_id"] == sent["stream_id"]
    assert rec["key_id"] == sent["key_id"]


def test_verify_catches_an_object_swapped_for_another_objects_bytes(kit, tmp_path):
    # Same length, both valid streams under the same key: only the stream binding tells them apart.
    a = _send(kit, tmp_path / "a.csv", b"A" * 5000)
    b = _send(kit, tmp_path / "b.csv", b"B" * 5000)
    meta_a = kit.s3.head_object(Bucket=BUCKET, Key=a["key"])["Metadata"]
    kit.s3.put_object(Bucket=BUCKET, Key=a["key"], Body=kit.get(b["key"]), Metadata=meta_a)
    r = kit.verify(f"s3://{BUCKET}/{a['key']}")
    assert r.returncode == 65
    (rec,) = records(r.stdout)
    assert rec["status"] == "mismatch"
    assert "belong to another stream" in rec["error"] and b["stream_id"] in rec["error"]
    assert r.stderr.decode().startswith(f"verify: s3://{BUCKET}/{a['key']}: object bytes belong to another stream")


def test_verify_against_catches_a_changed_source(kit, tmp_path):
    path = tmp_path / "ledger.csv"
    sent = _send(kit, path, b"1,2,3\n" * 1000)
    path.write_bytes(b"1,2,4\n" * 1000)              # same length, other content
    r = kit.verify(f"s3://{BUCKET}/{sent['key']}", "--against", f"file://{path}")
    assert r.returncode == 65
    (rec,) = records(r.stdout)
    assert "content differs" in rec["error"]
    path.write_bytes(b"1,2,3\n" * 999)
    r = kit.verify(f"s3://{BUCKET}/{sent['key']}", "--against", f"file://{path}")
    assert r.returncode == 65
    assert b"now holds 5994 bytes, the object 6000" in r.stderr


def test_verify_catches_a_truncated_object(kit, tmp_path):
    sent = _send(kit, tmp_path / "t.bin", os.urandom(200_000))
    body = kit.get(sent["key"])
    meta = kit.s3.head_object(Bucket=BUCKET, Key=sent["key"])["Metadata"]
    kit.s3.put_object(Bucket=BUCKET, Key=sent["key"], Body=body[:-100], Metadata=meta)
    r = kit.verify(f"s3://{BUCKET}/{sent['key']}")
    assert r.returncode == 65
    (rec,) = records(r.stdout)
    assert rec["status"] == "bad_data" and "truncated" in rec["error"]


def test_verify_of_a_missing_object_exits_66(kit):
    r = kit.verify(f"s3://{BUCKET}/nope")
    assert r.returncode == 66
    assert json.loads(r.stdout)["status"] == "no_input"
    assert b"no such object" in r.stderr


def test_verify_catches_a_short_pipe_object_by_its_length_fingerprint(kit, tmp_path):
    # A stream sealed short under a header announcing the full length (an encryptor that did not
    # enforce it): s3-put-sts refuses it, so it is stored here by hand, as a buggy tool could.
    import io

    from hdfs2s3kit import keyring, streamfmt

    key = kit.ssm.get_parameter(Name="/hdfs2s3/t/keys/fernet", WithDecryption=True)["Parameter"]["Value"]
    kid = "/hdfs2s3/t/keys/fernet:1"
    chunks = streamfmt._encrypt_chunks(io.BytesIO(b"x" * 1000), kid, key, 256, 1, {}, length=4000, _enforce=False)
    short = b"".join(bytes(c) for c in chunks)
    assert keyring  # the keyring the kit's config names opens it: only the length is wrong
    kit.s3.put_object(Bucket=BUCKET, Key="short.enc", Body=short, Metadata={"h2s3-src-length": "4000"})
    r = kit.verify(f"s3://{BUCKET}/short.enc")
    (rec,) = records(r.stdout)
    assert r.returncode == 65, r.stderr
    assert "stream length 1000 does not match the 4000 bytes its header announces" in rec["error"]
