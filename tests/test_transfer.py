"""`hdfs2s3kit transfer` end to end: real command, real local AWS, file:// sources."""

import os

import pytest
import xxhash

from test_transfer_support import BUCKET, KEY_PREFIX, key_for, records

MiB = 1 << 20
FRAME = MiB                     # the default frame size
PART = 5 * MiB                  # S3's minimum part size


def _write(path, data):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("size", [0, 1, FRAME, 2 * PART + 12345],
                         ids=["empty", "one-byte", "exactly-one-frame", "several-parts"])
def test_transfer_stores_an_encrypted_object_that_decrypts_to_the_source(kit, tmp_path, size):
    data = os.urandom(size)
    src = _write(tmp_path / f"f{size}.bin", data)
    r = kit.transfer(f"file://{src}", "--part-size", str(PART))
    assert r.returncode == 0, r.stderr
    (rec,) = records(r.stdout)
    assert rec["status"] == "ok" and rec["exit_code"] == 0 and rec["error"] is None
    assert (rec["bucket"], rec["key"]) == (BUCKET, key_for(src))
    assert rec["src_bytes"] == size
    assert rec["xxh3_128"] == xxhash.xxh3_128(data).hexdigest()
    assert rec["key_id"] == "/hdfs2s3/t/keys/fernet:1"
    assert rec["parts"] == (3 if size > 2 * PART else 1)
    assert rec["checksum_verified"] is True
    assert kit.decrypt(rec["key"]) == data
    assert not kit.open_uploads()


def test_object_metadata_records_source_fingerprint_key_and_format(kit, tmp_path):
    src = _write(tmp_path / "q3.csv", b"a,b\n1,2\n")
    r = kit.transfer(f"file://{src}")
    assert r.returncode == 0, r.stderr
    (rec,) = records(r.stdout)
    meta = kit.s3.head_object(Bucket=BUCKET, Key=rec["key"])["Metadata"]
    st = os.stat(src)
    assert meta["h2s3-src"] == f"file://{src}"
    assert meta["h2s3-src-length"] == "8"
    assert float(meta["h2s3-src-mtime"]) == pytest.approx(st.st_mtime)
    assert meta["h2s3-key-id"] == rec["key_id"]
    assert meta["h2s3-format"] == "2"
    assert meta["h2s3-stream-id"] == rec["stream_id"] and len(rec["stream_id"]) == 32


def test_rerun_skips_a_file_already_there_and_force_sends_it_again(kit, tmp_path):
    src = _write(tmp_path / "same.txt", b"hello\n" * 100)
    first = records(kit.transfer(f"file://{src}").stdout)[0]
    etag = kit.s3.head_object(Bucket=BUCKET, Key=first["key"])["ETag"]

    r = kit.transfer(f"file://{src}")
    assert r.returncode == 0, r.stderr
    (again,) = records(r.stdout)
    assert again["status"] == "skipped" and again["exit_code"] == 0
    assert again["key_id"] == first["key_id"]
    assert kit.s3.head_object(Bucket=BUCKET, Key=first["key"])["ETag"] == etag

    r = kit.transfer(f"file://{src}", "--force")
    assert r.returncode == 0, r.stderr
    (forced,) = records(r.stdout)
    assert forced["status"] == "ok"
    # every stream has a fresh data key and IVs, so a real re-send changes the bytes
    assert kit.s3.head_object(Bucket=BUCKET, Key=first["key"])["ETag"] != etag
    assert kit.decrypt(first["key"]) == b"hello\n" * 100


def test_changed_source_is_not_clobbered_without_force(kit, tmp_path):
    src = _write(tmp_path / "grows.log", b"v1\n")
    first = records(kit.transfer(f"file://{src}").stdout)[0]
    src.write_bytes(b"v1\nv2\n")
    r = kit.transfer(f"file://{src}")
    assert r.returncode == 73
    (rec,) = records(r.stdout)
    assert rec["status"] == "exists"
    assert "another version of the source" in rec["error"] and "--force" in rec["error"]
    assert r.stderr.decode().startswith("transfer: exists: ")
    assert kit.decrypt(first["key"]) == b"v1\n"

    assert kit.transfer(f"file://{src}", "--force").returncode == 0
    assert kit.decrypt(first["key"]) == b"v1\nv2\n"


def test_file_outside_the_allowed_groups_is_denied_and_nothing_is_uploaded(kit, tmp_path):
    kit.set_config("allowed_groups", "h2s-no-such-company-group")
    src = _write(tmp_path / "secret.csv", b"x")
    r = kit.transfer(f"file://{src}")
    assert r.returncode == 77
    (rec,) = records(r.stdout)
    assert rec["status"] == "denied" and rec["exit_code"] == 77
    assert "not an allowed group" in rec["error"]
    assert kit.objects() == []


def test_file_of_a_group_the_user_is_not_in_is_denied(kit, tmp_path, linux_users):
    import grp

    group = linux_users.group("locked")
    ok = _write(tmp_path / "open.csv", b"fine")
    locked = _write(tmp_path / "locked.csv", b"payroll")
    os.chown(locked, -1, grp.getgrnam(group).gr_gid)
    r = kit.transfer(f"file://{ok}", f"file://{locked}")
    assert r.returncode == 77
    recs = {os.path.basename(x["src"]): x for x in records(r.stdout)}
    assert recs["open.csv"]["status"] == "ok"
    assert recs["locked.csv"]["status"] == "denied"
    assert f"not a member of the file's group {group}" in recs["locked.csv"]["error"]
    assert kit.objects() == [key_for(ok)]


def test_several_sources_from_a_listing_run_in_one_process_with_a_summary(kit, tmp_path):
    a = _write(tmp_path / "a.txt", b"a" * 10)
    b = _write(tmp_path / "b.txt", b"b" * 20)
    listing = tmp_path / "listing.txt"
    listing.write_text(f"file://{a}\nfile://{tmp_path}/missing.txt\nfile://{b}\ts3://{BUCKET}/elsewhere/b.txt\n")
    r = kit.transfer("--from-file", str(listing))
    recs = records(r.stdout)
    assert [x["status"] for x in recs] == ["ok", "no_input", "ok"]
    assert r.returncode == 66
    assert "3 files: 2 ok, 0 skipped, 1 failed" in r.stderr.decode()
    assert kit.objects() == ["elsewhere/b.txt", key_for(a)]
    assert kit.decrypt("elsewhere/b.txt") == b"b" * 20


def test_explicit_destination_prefix_takes_the_source_base_name(kit, tmp_path):
    a = _write(tmp_path / "one.txt", b"1")
    b = _write(tmp_path / "two.txt", b"2")
    r = kit.transfer(f"file://{a}", f"file://{b}", f"s3://{BUCKET}/drop/")
    assert r.returncode == 0, r.stderr
    assert kit.objects() == ["drop/one.txt", "drop/two.txt"]


def test_several_sources_with_a_single_object_destination_is_a_usage_error(kit, tmp_path):
    r = kit.transfer(f"file://{tmp_path}/a", f"file://{tmp_path}/b", f"s3://{BUCKET}/one-object")
    assert r.returncode == 2
    assert b"several sources need a DEST ending in '/'" in r.stderr


def test_source_that_looks_like_an_option_is_refused(kit):
    r = kit.transfer("--", "-rf")
    assert r.returncode == 2
    (rec,) = records(r.stdout)
    assert rec["status"] == "usage" and "could be read as an option" in rec["error"]
    assert kit.objects() == []


def test_missing_role_in_config_is_a_config_error(kit, tmp_path):
    kit.ssm.delete_parameter(Name="/hdfs2s3/t/role_arn")
    src = _write(tmp_path / "x", b"x")
    r = kit.transfer(f"file://{src}")
    assert r.returncode == 78
    assert b"no role to assume" in r.stderr
    assert kit.objects() == []


def test_hdfs_batch_is_authorized_in_one_hadoop_launch(kit, hadoop, hdfs_dir):
    hpath, local = hdfs_dir
    names = ["a.csv", "b.csv", "c.csv"]
    for i, n in enumerate(names):
        (local / n).write_bytes(b"%d\n" % i * 1000)
    before = hadoop.launches()
    # -j 2: two files in flight share the group commit (the sequential run: test_real_hdfs_recheck);
    # a long re-check wait, so that a loaded machine cannot split the batch in two
    r = kit.transfer("-j", "2", *[f"{hpath}/{n}" for n in names],
                     env=dict(hadoop.env(), HDFS2S3_RECHECK_WAIT="600"))
    assert r.returncode == 0, r.stderr
    assert [x["status"] for x in records(r.stdout)] == ["ok"] * 3
    # one `-stat` and one `-checksum` (alongside) for the whole batch, one `-cat` per file, then one
    # re-check `-stat` for all of them after their reads (binding, groupcommit), not one per file
    assert hadoop.launches() - before == 2 + len(names) + 1
    assert kit.decrypt(f"{KEY_PREFIX}{hpath}/b.csv") == b"1\n" * 1000


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP"])
def test_sigterm_mid_upload_aborts_and_leaves_nothing(kit, hadoop, hdfs_dir, tmp_path, sig):
    import signal
    import sys

    from harness.hadoop import sigterm_once_an_upload_is_open, stalling_hadoop

    hpath, local = hdfs_dir
    (local / "big.bin").write_bytes(os.urandom(12 << 20))
    # 11 MiB read, then the reader stalls: the first 8 MiB part is up, the upload is open
    env = dict(os.environ, **kit.env, HADOOP_CMD=stalling_hadoop(hadoop, tmp_path, 11 << 20))
    argv = [os.path.join(os.path.dirname(sys.executable), "hdfs2s3kit"), "transfer", f"{hpath}/big.bin"]
    signum = getattr(signal, sig)
    rc, out, err = sigterm_once_an_upload_is_open(argv, env, kit.open_uploads, sig=signum)
    assert rc == 128 + signum, err
    (rec,) = records(out)
    assert rec["status"] == "interrupted" and rec["exit_code"] == 128 + signum
    assert rec["aborted"] is True and rec["object_exists"] is False
    assert kit.objects() == [] and kit.open_uploads() == []


def test_offline_key_file_and_explicit_dest_need_no_config(kit, tmp_path):
    from cryptography.fernet import Fernet

    keyfile = tmp_path / "fernet.key"
    keyfile.write_bytes(Fernet.generate_key())
    keyfile.chmod(0o600)
    src = _write(tmp_path / "offline.txt", b"no ssm here\n")
    env = {"HDFS2S3_CONFIG": ""}
    r = kit.transfer(f"file://{src}", f"s3://{BUCKET}/offline/", "--key-file", str(keyfile),
                     "--no-assume-role", env=env)
    assert r.returncode == 0, r.stderr
    (rec,) = records(r.stdout)
    assert rec["key"] == "offline/offline.txt" and rec["key_id"].startswith("fp:")
    assert rec["role_arn"] is None
    d = kit.run("fernet-decrypt", "--key-file", str(keyfile), input=kit.get("offline/offline.txt"), env=env)
    assert d.returncode == 0 and d.stdout == b"no ssm here\n"
    r = kit.transfer(f"file://{src}", "--key-file", str(keyfile), "--no-assume-role", env=env)
    assert r.returncode == 78
    assert b"no config: pass --config PREFIX or set HDFS2S3_CONFIG, or give an s3:// DEST" in r.stderr


def test_a_denied_file_is_published_to_sns_and_counted_in_cloudwatch(kit, tmp_path):
    import json

    sqs, sns = kit.session.client("sqs"), kit.session.client("sns")
    topic = kit.ssm.get_parameter(Name="/hdfs2s3/t/sns_topic_arn")["Parameter"]["Value"]
    q = sqs.create_queue(QueueName="kit-ops")["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)
    kit.set_config("allowed_groups", "h2s-no-such-company-group")
    src = _write(tmp_path / "locked.csv", b"x")
    assert kit.transfer(f"file://{src}").returncode == 77
    msgs = sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=10).get("Messages", [])
    subjects = [json.loads(m["Body"])["Subject"] for m in msgs]
    assert any("denied" in s for s in subjects), subjects
    stats = kit.session.client("cloudwatch").get_metric_statistics(
        Namespace="kit", MetricName="Failures", Dimensions=[{"Name": "Pipeline", "Value": "t"},
                                                            {"Name": "Bucket", "Value": BUCKET}],
        StartTime="2000-01-01T00:00:00Z", EndTime="2100-01-01T00:00:00Z", Period=86400, Statistics=["Sum"])
    assert sum(p["Sum"] for p in stats["Datapoints"]) == 1


def test_missing_source_error_names_it_once(kit, tmp_path):
    r = kit.transfer(f"file://{tmp_path}/nope.csv")
    assert r.returncode == 66
    assert r.stderr.decode() == f"transfer: no_input: file://{tmp_path}/nope.csv: no such file or directory\n"
