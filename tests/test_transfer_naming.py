"""Where an object goes (the documented DEST mapping) and when two versions count as the same."""

import pytest

from hdfs2s3kit import errors, transfer
from hdfs2s3kit.hdfs import FileStat


@pytest.mark.parametrize("src, key", [
    ("hdfs://nn.example:8020/data/q3.csv", "pre/data/q3.csv"),
    ("viewfs://c/data/q3.csv", "pre/data/q3.csv"),
    ("/data/q3.csv", "pre/data/q3.csv"),
    ("hdfs://nn/data/what?#.csv", "pre/data/what?#.csv"),
    ("file:/tmp/x", "pre/tmp/x"),
    ("file:///tmp/a%20b.csv", "pre/tmp/a%20b.csv"),   # literal, as the reader opens it
])
def test_default_destination_is_bucket_prefix_and_source_path(src, key):
    assert transfer.dest_for(src, bucket="b", prefix="/pre/") == ("b", key)


def test_empty_prefix_puts_the_source_path_at_the_bucket_root():
    assert transfer.dest_for("/data/x", bucket="b", prefix="") == ("b", "data/x")


@pytest.mark.parametrize("dest, expect", [
    ("s3://other/exact/key.enc", ("other", "exact/key.enc")),
    ("s3://other/dir/", ("other", "dir/q3.csv")),
    ("s3://other", ("other", "q3.csv")),
    ("s3://other/odd?name#1", ("other", "odd?name#1")),
])
def test_explicit_destination_wins_and_a_prefix_takes_the_base_name(dest, expect):
    assert transfer.dest_for("/data/q3.csv", dest, bucket="b", prefix="pre") == expect


def test_no_bucket_and_no_dest_is_a_config_error():
    with pytest.raises(errors.ConfigError, match="no destination"):
        transfer.dest_for("/data/x", bucket=None)


@pytest.mark.parametrize("bad", ["s3:/x/y", "https://b/k", "s3:///k"])
def test_a_destination_that_is_not_an_s3_url_is_refused(bad):
    with pytest.raises(errors.UsageError):
        transfer.dest_for("/data/x", bad)


def test_a_filesystem_root_cannot_name_an_object():
    with pytest.raises(errors.UsageError):
        transfer.dest_for("hdfs://nn/", bucket="b")


@pytest.mark.parametrize("src", ["-rf", "", "/a\nb", "/a\0b"])
def test_option_like_or_multiline_sources_are_refused(src):
    with pytest.raises(errors.UsageError):
        transfer.check_src(src)


def test_fingerprint_matches_only_the_same_path_length_and_mtime():
    st = FileStat("/d/x", "u", "g", 0o640, 10, 1700000000.5, False)
    fp = transfer.fingerprint("/d/x y", st)
    assert fp == {"h2s3-src": "/d/x%20y", "h2s3-src-length": "10", "h2s3-src-mtime": "1700000000.5"}
    assert transfer.same_fingerprint(dict(fp, **{"h2s3-key-id": "k:1"}), fp)
    for changed in (transfer.fingerprint("/d/x y", FileStat("/d/x", "u", "g", 0o640, 11, 1700000000.5, False)),
                    transfer.fingerprint("/d/x y", FileStat("/d/x", "u", "g", 0o640, 10, 1700000001.0, False)),
                    transfer.fingerprint("/d/z", st)):
        assert not transfer.same_fingerprint(fp, changed)
    assert not transfer.same_fingerprint({}, fp)


def test_batch_exit_code_is_the_first_failures_and_summary_counts_statuses():
    recs = [{"status": "ok", "bytes": 5, "src_bytes": 3}, {"status": "skipped"},
            {"status": "denied", "exit_code": 77}, {"status": "io_error", "exit_code": 74}]
    assert transfer.exit_code(recs) == 77
    assert transfer.exit_code(recs[:2]) == 0
    s = transfer.summarize(recs)
    assert (s["files"], s["ok"], s["skipped"], s["failed"], s["src_bytes"]) == (4, 1, 1, 2, 3)
