"""`hdfs2s3kit map` as Hadoop Streaming runs it: a subprocess reading a listing on stdin,
writing TSV on stdout and reporter: lines on stderr, against the local moto server."""

import grp
import os

import pytest
import xxhash

from test_map_support import BUCKET, counters, mapkit  # noqa: F401 - mapkit is a fixture


def by_src(rows):
    return {r["src"]: r for r in rows}


def test_three_input_forms_land_where_they_say(mapkit):
    a, b, c, d = mapkit.make_files(4)
    lines = [a,                                   # SRC
             f"{b}\ts3://{BUCKET}/explicit/b.enc",  # SRC<TAB>DEST
             f"0\t{c}",                           # OFFSET<TAB>SRC (NLineInputFormat)
             f"117\t{d}\ts3://{BUCKET}/explicit/d.enc"]
    rc, rows, err = mapkit.map(lines, "--run-id", "forms")
    assert rc == 0, err
    got = {r["src"]: r["dest"] for r in rows}
    assert got == {a: f"s3://{BUCKET}/{mapkit.key_for(a)}", b: f"s3://{BUCKET}/explicit/b.enc",
                   c: f"s3://{BUCKET}/{mapkit.key_for(c)}", d: f"s3://{BUCKET}/explicit/d.enc"}
    keys = set(mapkit.objects("").keys())
    assert {mapkit.key_for(a), "explicit/b.enc", mapkit.key_for(c), "explicit/d.enc"} <= keys
    assert not any(k.startswith("landing/117") or k.startswith("landing/0") for k in keys)


def test_dest_root_maps_sources_under_it_but_explicit_dest_wins(mapkit):
    a, b = mapkit.make_files(2)
    rc, rows, err = mapkit.map([a, f"{b}\ts3://{BUCKET}/explicit/"], "--run-id", "root", "--dest", f"s3://{BUCKET}/root")
    assert rc == 0, err
    assert [r["dest"] for r in rows] == [f"s3://{BUCKET}/root/{a[len('file:///'):]}",
                                         f"s3://{BUCKET}/explicit/{b.rsplit('/', 1)[1]}"]


def test_tsv_and_counters_describe_each_file(mapkit):
    urls = mapkit.make_files(3, size=5000)
    rc, rows, err = mapkit.map(urls, "--run-id", "counters")
    assert rc == 0, err
    assert [r["status"] for r in rows] == ["ok"] * 3
    for r in rows:
        data = open(r["src"][len("file://"):], "rb").read()
        assert int(r["bytes"]) == len(data)
        assert r["xxh3_128"] == xxhash.xxh3_128_hexdigest(data)
        assert float(r["seconds"]) > 0 and r["message"] == ""
    c = counters(err)
    assert c["files_ok"] == 3 and "files_failed" not in c
    assert c["bytes"] == sum(int(r["bytes"]) for r in rows)
    uploaded = sum(o["Size"] for o in mapkit.objects().values())
    assert c["bytes_uploaded"] == uploaded > c["bytes"]   # ciphertext framing on top of the data


def test_heartbeat_reports_a_long_file_while_it_runs(mapkit):
    (big,) = mapkit.make_files(1, size=24 * 1024 * 1024, name="big")
    rc, rows, err = mapkit.map([big], "--run-id", "hb", "--heartbeat", "0.05", timeout=300)
    assert rc == 0, err
    beats = [ln for ln in err.splitlines() if ln.startswith("reporter:status:") and big in ln]
    assert len(beats) >= 2, err
    assert rows[0]["status"] == "ok"


def test_a_failing_file_does_not_stop_the_others(mapkit):
    good = mapkit.make_files(3)
    missing = "file://" + str(mapkit.src_dir / "gone.bin")
    lines = [good[0], missing, good[1], "-rf", good[2]]
    rc, rows, err = mapkit.map(lines, "--run-id", "mixed")
    assert rc == 66, err          # the first failed file's code: no input
    st = {r["src"]: r["status"] for r in rows}
    assert [st[g] for g in good] == ["ok"] * 3
    assert st[missing] == "no_input" and st["-rf"] == "usage"
    assert by_src(rows)[missing]["message"]
    c = counters(err)
    assert c["files_ok"] == 3 and c["files_failed"] == 2
    assert set(mapkit.objects()) == {mapkit.key_for(g) for g in good}
    assert "reporter:status:done: 3 ok, 0 skipped, 0 denied, 2 failed" in err


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a file a group the user is not in")
def test_a_denied_file_is_counted_as_denied_and_not_uploaded(mapkit):
    ok, secret = mapkit.make_files(2)
    other = next(g for g in grp.getgrall() if g.gr_gid != 0 and "root" not in g.gr_mem)
    os.chown(secret[len("file://"):], -1, other.gr_gid)
    rc, rows, err = mapkit.map([ok, secret], "--run-id", "denied")
    assert rc == 77, err
    assert by_src(rows)[secret]["status"] == "denied"
    c = counters(err)
    assert c["files_ok"] == 1 and c["files_denied"] == 1
    assert mapkit.key_for(secret) not in mapkit.objects()


def test_a_retried_task_skips_what_is_done_and_finishes_the_rest(mapkit):
    urls = mapkit.make_files(4)
    late = mapkit.src_dir / "late.bin"
    lines = urls + ["file://" + str(late)]
    rc, rows, err = mapkit.map(lines, "--run-id", "retry")
    assert rc == 66
    before = {k: (o["ETag"], o["LastModified"]) for k, o in mapkit.objects().items()}
    late.write_bytes(b"arrived later")
    rc, rows, err = mapkit.map(lines, "--run-id", "retry")
    assert rc == 0, err
    assert [r["status"] for r in rows] == ["skipped"] * 4 + ["ok"]
    after = {k: (o["ETag"], o["LastModified"]) for k, o in mapkit.objects().items()}
    assert {k: after[k] for k in before} == before          # nothing re-sent
    s = mapkit.summary("retry")
    assert (s["files"], s["ok"], s["failed"]) == (5, 5, 0)  # the failure was retried successfully


def test_a_changed_source_is_refused_not_clobbered(mapkit):
    (url,) = mapkit.make_files(1)
    assert mapkit.map([url], "--run-id", "v1")[0] == 0
    open(url[len("file://"):], "ab").write(b"more")
    rc, rows, err = mapkit.map([url], "--run-id", "v2")
    assert rc == 73 and rows[0]["status"] == "exists", err
    rc, rows, err = mapkit.map([url], "--run-id", "v3", "--force")
    assert rc == 0 and rows[0]["status"] == "ok", err


def test_two_concurrent_attempts_write_each_file_once(mapkit):
    mapkit.s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    urls = mapkit.make_files(20)
    task = {"mapreduce_task_id": "task_local_0001_m_000000", "HDFS2S3_RUN_ID": "spec"}
    envs = [dict(task, mapreduce_task_attempt_id=f"attempt_local_0001_m_000000_{n}") for n in (0, 1)]
    (rc0, rows0, err0), (rc1, rows1, err1) = mapkit.concurrent_maps(urls, envs)
    assert (rc0, rc1) == (0, 0), err0[-2000:] + err1[-2000:]
    rows = [by_src(rows0), by_src(rows1)]
    for u in urls:
        assert sorted([rows[0][u]["status"], rows[1][u]["status"]]) == ["ok", "skipped"], u
    print("ok per attempt:", [sum(r["status"] == "ok" for r in rr.values()) for rr in rows])
    versions = mapkit.s3.list_object_versions(Bucket=BUCKET, Prefix="landing/tmp/")["Versions"]
    assert sorted(v["Key"] for v in versions) == sorted(mapkit.key_for(u) for u in urls)  # one version each
    s = mapkit.summary("spec")
    assert (s["attempts"], s["files"], s["ok"], s["entries"], s["distinct_entries"]) == (2, 20, 20, 40, 40)


def test_a_killed_task_leaves_no_partial_object_and_keeps_its_manifest(mapkit):
    import signal
    import subprocess

    from harness import proc

    small = mapkit.make_files(2)
    (big,) = mapkit.make_files(1, size=96 * 1024 * 1024, name="big")
    p = subprocess.Popen([proc.cmd_path("hdfs2s3kit"), "map", "--run-id", "killed", "--heartbeat", "0.05"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=dict(os.environ, **mapkit.env))
    p.stdin.write("".join(u + "\n" for u in small + [big]).encode())
    p.stdin.close()
    seen = []
    # Wait until the big file's parts are under way (its heartbeat says 1 s), as YARN's kill would
    # find it. A kill within the first requests can race CreateMultipartUpload itself: an upload
    # the client never learnt the ID of is left to the bucket's lifecycle rule (README).
    for line in iter(p.stderr.readline, b""):
        seen.append(line.decode())
        if line.startswith(b"reporter:status:") and big.encode() in line and line.endswith(b"(1s)\n"):
            p.send_signal(signal.SIGTERM)           # YARN's kill: a failed or losing speculative attempt
            break
    rest_err = p.stderr.read().decode()
    out = p.stdout.read()
    assert p.wait(60) == 143, "".join(seen) + rest_err
    from test_map_support import parse_tsv

    by_src = {r["src"]: r for r in parse_tsv(out)}
    rows = {src: r["status"] for src, r in by_src.items()}
    # A kill that lands inside an HTTP request is swallowed by botocore (it retries any exception
    # there); the mapper's latch then stops the task right after that file, which completed whole.
    assert rows[small[0]] == rows[small[1]] == "ok" and rows[big] in ("interrupted", "ok")
    objects = mapkit.objects()
    if rows[big] == "interrupted" and mapkit.key_for(big) not in objects:
        pass    # aborted: nothing of it exists
    else:
        assert objects[mapkit.key_for(big)]["Size"] > 96 * 1024 * 1024
        if rows[big] == "interrupted":
            # the signal came while the Complete (or its read-back) was in flight, held over it:
            # the object is whole, and the row must say so (issue 12: records tell the truth)
            assert "was stored whole" in by_src[big]["message"], by_src[big]
    assert mapkit.s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    s = mapkit.summary("killed")
    assert s["files"] == 3 and s["ok"] == 2 + (rows[big] == "ok")


def test_a_task_whose_manifest_cannot_be_written_fails(mapkit):
    urls = mapkit.make_files(2)
    rc, rows, err = mapkit.map(urls, "--run-id", "nomani", "--manifests", "s3://no-such-bucket-h2s/x")
    assert [r["status"] for r in rows] == ["ok", "ok"]          # the files themselves went
    assert rc == 66, err                                        # ...but without its audit trail the attempt fails
    assert "hdfs2s3kit map: run manifest not written: writing run manifest s3://no-such-bucket-h2s/x/_manifests/nomani/" in err


@pytest.mark.hadoop
def test_a_task_over_hdfs_paths_stats_them_all_in_one_jvm(mapkit, hadoop, hdfs_dir):
    """Through the real Hadoop client (FsShell over viewfs): authz is batched per task."""
    hpath, local = hdfs_dir
    data = {f"{hpath}/part-{i}.csv": f"row,{i}\n".encode() * (100 + i) for i in range(3)}
    for path, body in data.items():
        hadoop.local(path).write_bytes(body)
    before = hadoop.launches()
    rc, rows, err = mapkit.map(list(data), "--run-id", "hdfs", env=dict(hadoop.env(), HDFS2S3_RECHECK_WAIT="600"))
    assert rc == 0, err
    assert [(r["status"], r["xxh3_128"]) for r in rows] == \
        [("ok", xxhash.xxh3_128_hexdigest(body)) for body in data.values()]
    # -stat and -checksum for the batch, one -cat per file, and one re-check -stat for all of them
    # after their reads (binding, groupcommit), not one per file
    assert hadoop.launches() - before == 2 + len(data) + 1
