"""`hdfs2s3kit cleanup`: orphaned multipart uploads listed, then aborted."""

import json

import pytest
from harness.proc import run

from hdfs2s3kit import errors, s3cleanup

BUCKET = "cleanup-bucket"


def orphan(s3, key):
    up = s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    s3.upload_part(Bucket=BUCKET, Key=key, UploadId=up, PartNumber=1, Body=b"x" * 2048)
    return up


def lines(r):
    return [json.loads(x) for x in r.stdout.decode().splitlines()]


def test_dry_run_lists_without_aborting_and_prefix_limits_the_scope(aws_env, s3):
    a, b = orphan(s3, "logs/a"), orphan(s3, "other/b")
    r = run("hdfs2s3kit", "cleanup", "--no-assume-role", "--older-than", "0", "--dry-run",
            f"s3://{BUCKET}/logs/", env=aws_env)
    assert r.returncode == 0, r.stderr
    out = lines(r)
    assert [(x["key"], x["upload_id"], x["action"]) for x in out] == [("logs/a", a, "would_abort")]
    assert len(s3.list_multipart_uploads(Bucket=BUCKET)["Uploads"]) == 2


def test_cleanup_aborts_the_uploads_it_lists(aws_env, s3):
    ids = {orphan(s3, "x/1"), orphan(s3, "x/2")}
    r = run("hdfs2s3kit", "cleanup", "--no-assume-role", "--older-than", "0s", f"s3://{BUCKET}", env=aws_env)
    assert r.returncode == 0, r.stderr
    assert {x["upload_id"] for x in lines(r)} == ids and {x["action"] for x in lines(r)} == {"aborted"}
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_uploads_younger_than_the_age_limit_are_kept(aws_env, s3):
    # The emulator stamps every upload with one fixed old date, so "now" is set relative to it.
    up = orphan(s3, "young")
    started = s3.list_multipart_uploads(Bucket=BUCKET)["Uploads"][0]["Initiated"]
    import datetime

    later = started + datetime.timedelta(hours=2)
    assert s3cleanup.list_uploads(s3, BUCKET, older_than=3 * 3600, now=later) == []
    [found] = s3cleanup.list_uploads(s3, BUCKET, older_than=3600, now=later)
    assert found["upload_id"] == up and found["age_s"] == 7200


@pytest.mark.parametrize("text,seconds", [("90", 90), ("30m", 1800), ("24h", 86400), ("7d", 604800), ("1.5h", 5400)])
def test_ages_parse(text, seconds):
    assert s3cleanup.parse_age(text) == seconds


def test_bad_age_is_a_usage_error(aws_env):
    with pytest.raises(errors.UsageError):
        s3cleanup.parse_age("yesterday")
    r = run("hdfs2s3kit", "cleanup", "--no-assume-role", "--older-than", "soon", "s3://b", env=aws_env)
    assert r.returncode == 2 and r.stderr.decode().startswith("hdfs2s3kit cleanup: --older-than: not a duration")
