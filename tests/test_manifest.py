"""Run manifests: conditional-create objects per task attempt, read back deduplicated."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hdfs2s3kit import errors, manifest

BUCKET = "h2s-manifest-test"


def rec(src, status="ok", digest=None, finished="2026-01-01T00:00:00.000Z", **kw):
    r = {"src": src, "status": status, "xxh3_128": digest, "finished": finished, "bucket": "b", "key": src.strip("/"),
         "bytes": 100, "src_bytes": 60, "exit_code": 0 if status in ("ok", "skipped") else 74,
         "error": None if status in ("ok", "skipped") else "short read"}
    r.update(kw)
    return r


def test_writer_creates_one_object_per_chunk_and_reader_gets_every_entry(s3):
    w = manifest.ManifestWriter(s3, BUCKET, "pre", "run1", "task_0", "attempt_0_0", flush_every=2)
    for i in range(5):
        w.add(rec(f"/d/{i}", digest=f"{i:032x}", key_id="/h2s/keys/fernet:1", user="alice"))
    w.close()
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert keys == [f"pre/_manifests/run1/task_0/attempt_0_0-{n:04d}.jsonl" for n in range(3)]
    entries, objects, bad = manifest.read_entries(s3, BUCKET, "pre", "run1")
    assert (len(entries), objects, bad) == (5, 3, 0)
    e = entries[0]
    assert (e["run_id"], e["task_id"], e["attempt_id"], e["key_id"], e["user"], e["dest"]) == \
        ("run1", "task_0", "attempt_0_0", "/h2s/keys/fernet:1", "alice", "s3://b/d/0")
    assert e["started"] is None or isinstance(e["started"], str)


def test_a_second_writer_with_the_same_attempt_never_overwrites(s3):
    for n in range(2):
        w = manifest.ManifestWriter(s3, BUCKET, "", "run2", "t", "a")
        w.add(rec(f"/d/{n}"))
        w.close()
    entries, objects, _ = manifest.read_entries(s3, BUCKET, "", "run2")
    assert objects == 2 and sorted(e["src"] for e in entries) == ["/d/0", "/d/1"]


def test_unreadable_lines_are_counted_not_fatal(s3):
    s3.put_object(Bucket=BUCKET, Key="_manifests/run3/t/a-0000.jsonl",
                  Body=json.dumps(rec("/d/x")) + "\n{not json\n[1,2]\n")
    entries, objects, bad = manifest.read_entries(s3, BUCKET, "", "run3")
    assert (len(entries), bad) == (1, 2)


def test_missing_run_is_no_input(s3):
    with pytest.raises(errors.NoInputError, match="no manifest for run nope"):
        manifest.read_entries(s3, BUCKET, "", "nope")


@pytest.mark.parametrize("bad", ["", "a/b", "../x", "with space", ".hidden"])
def test_run_ids_that_could_escape_the_prefix_are_refused(bad):
    with pytest.raises(errors.UsageError):
        manifest.run_prefix("p", bad)


def test_the_same_outcome_twice_counts_once_and_a_retried_failure_is_done():
    entries = [
        rec("/a", "ok", "aa", attempt_id="x0", finished="2026-01-01T00:00:01Z"),
        rec("/a", "skipped", None, attempt_id="x1", finished="2026-01-01T00:00:02Z"),
        rec("/a", "skipped", None, attempt_id="x2", finished="2026-01-01T00:00:03Z"),   # speculative twin
        rec("/b", "io_error", None, attempt_id="x0", finished="2026-01-01T00:00:01Z"),
        rec("/b", "ok", "bb", attempt_id="x1", finished="2026-01-01T00:00:02Z"),
        rec("/c", "io_error", None, attempt_id="x0", finished="2026-01-01T00:00:01Z", error="first"),
        rec("/c", "denied", None, attempt_id="x1", finished="2026-01-01T00:00:02Z", error="latest",
            exit_code=77),
    ]
    s = manifest.summarize(entries, run_id="r")
    assert (s["entries"], s["distinct_entries"], s["attempts"]) == (7, 6, 3)
    assert (s["files"], s["ok"], s["skipped"], s["failed"]) == (3, 2, 0, 1)
    assert s["bytes"] == 200 and s["src_bytes"] == 120
    assert [(f["src"], f["status"], f["error"]) for f in s["failures"]] == [("/c", "denied", "latest")]
    assert manifest.retry_listing(s) == ["/c\ts3://b/c"]
    text = manifest.format_summary(s)
    assert "files: 3  ok: 2  skipped: 0  failed: 1" in text and "FAILED denied: /c: latest" in text


outcome = st.tuples(st.sampled_from(["/a", "/b", "/c", "/d"]),
                    st.sampled_from(["ok", "skipped", "io_error", "denied"]),
                    st.integers(0, 50))


@given(st.lists(outcome, max_size=30))
def test_every_file_has_exactly_one_final_outcome_and_ok_wins(items):
    entries = [rec(src, stt, digest=None if stt != "ok" else src, finished=f"2026-01-01T00:00:{t:02d}Z")
               for src, stt, t in items]
    s = manifest.summarize(entries, run_id="r")
    srcs = {src for src, _, _ in items}
    assert s["files"] == len(srcs) == s["ok"] + s["skipped"] + s["failed"]
    for src in srcs:
        statuses = {stt for s2, stt, _ in items if s2 == src}
        failed = src in {f["src"] for f in s["failures"]}
        assert failed == (not statuses & {"ok", "skipped"})
    assert s["distinct_entries"] == len({(e["src"], e["status"], e["xxh3_128"]) for e in entries})
