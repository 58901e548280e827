"""`hdfs2s3kit report RUN_ID`: the run manifest as a summary, and the failed files as a retry listing."""

from harness import proc

from test_map_support import BUCKET, KEY_PREFIX, mapkit  # noqa: F401 - mapkit is a fixture


def test_report_summarises_a_run_and_lists_failures_for_a_retry(mapkit):
    good = mapkit.make_files(3)
    missing = mapkit.src_dir / "missing.bin"
    rc, rows, err = mapkit.map(good + ["file://" + str(missing)], "--run-id", "rep1")
    assert rc == 66, err

    rc, text, err = mapkit.report("rep1")
    assert rc == 0, err
    assert f"run rep1: s3://{BUCKET}/{KEY_PREFIX}/_manifests/rep1/" in text
    assert "files: 4  ok: 3  skipped: 0  failed: 1" in text
    assert f"FAILED no_input: file://{missing}" in text

    s = mapkit.summary("rep1")
    assert s["src_bytes"] == sum(int(r["bytes"]) for r in rows if r["status"] == "ok")
    assert s["bytes"] == sum(o["Size"] for o in mapkit.objects().values())

    rc, listing, err = mapkit.report("rep1", "--failed-only")
    assert rc == 0, err
    assert listing.splitlines() == [f"file://{missing}\ts3://{BUCKET}/{mapkit.key_for('file://' + str(missing))}"]

    # The retry listing is mapper input: retry only the failure, in the same run.
    missing.write_bytes(b"now here")
    rc, rows, err = mapkit.map(listing.splitlines(), "--run-id", "rep1")
    assert rc == 0 and [r["status"] for r in rows] == ["ok"], err
    s = mapkit.summary("rep1")
    assert (s["files"], s["ok"], s["failed"], s["attempts"]) == (4, 4, 0, 2)
    assert mapkit.report("rep1", "--failed-only")[1] == ""


def test_repeated_retries_do_not_duplicate_an_outcome(mapkit):
    urls = mapkit.make_files(5)
    for _ in range(3):
        rc, rows, err = mapkit.map(urls, "--run-id", "rep2")
        assert rc == 0, err
    s = mapkit.summary("rep2")
    # ok once per file, then `skipped` reported by two attempts: one outcome, counted once
    assert (s["entries"], s["distinct_entries"], s["files"], s["ok"]) == (15, 10, 5, 5)


def test_report_of_an_unknown_run_exits_66(mapkit):
    rc, out, err = mapkit.report("no-such-run")
    assert rc == 66 and err.strip() == (f"hdfs2s3kit report: no manifest for run no-such-run under "
                                        f"s3://{BUCKET}/{KEY_PREFIX}/_manifests/no-such-run/")


def test_report_names_what_is_missing_without_a_location(aws_env):
    r = proc.run("hdfs2s3kit", "report", "r1", env=dict(aws_env, HDFS2S3_CONFIG=""))
    assert r.returncode == 78 and b"--manifests s3://BUCKET/PREFIX" in r.stderr
    r = proc.run("hdfs2s3kit", "report", "bad/run", "--manifests", "s3://b/p", env=aws_env)
    assert r.returncode == 2 and b"bad run ID" in r.stderr
