"""`transfer -r` with filters, `--dry-run`, `-j N` and object options, through the real
command against the local AWS; directory listing also through the real Hadoop client."""

import grp
import os

import pytest

from test_transfer_support import BUCKET, KEY_PREFIX, records


def _tree(root, symlink=True):
    files = {"a.csv": b"a\n", "b.txt": b"b\n", "sub/c.csv": b"c\n", "sub/tmp/d.csv": b"d\n",
             "sub/deeper/e.csv": b"e" * 3000}
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    if symlink:   # (local trees only: Hadoop's local file system shows a link as the file it points to)
        os.symlink(root / "a.csv", root / "link.csv")      # not a regular file: never sent
    os.mkdir(root / "empty")
    return files


def test_recursive_sends_regular_files_under_dest_filters_apply_and_a_rerun_skips(kit, tmp_path):
    root = tmp_path / "q3"
    files = _tree(root)
    args = (f"file://{root}", f"s3://{BUCKET}/out", "-r", "--include", "*.csv", "--exclude", "**/tmp/**")
    r = kit.transfer(*args)
    assert r.returncode == 0, r.stderr
    recs = records(r.stdout)
    want = sorted(f"out/q3/{rel}" for rel in files if rel.endswith(".csv") and "/tmp/" not in rel)
    assert sorted(x["key"] for x in recs) == want == kit.objects()
    assert all(x["status"] == "ok" for x in recs)
    assert kit.decrypt("out/q3/sub/deeper/e.csv") == files["sub/deeper/e.csv"]
    again = kit.transfer(*args)
    assert again.returncode == 0 and {x["status"] for x in records(again.stdout)} == {"skipped"}
    # a SRC ending in '/' sends what it holds (rsync's convention); default mapping without DEST
    r = kit.transfer(f"file://{root}/sub/", f"s3://{BUCKET}/flat/", "-r", "--exclude", "tmp/")
    assert sorted(x["key"] for x in records(r.stdout)) == ["flat/c.csv", "flat/deeper/e.csv"]
    r = kit.transfer(f"file://{root}/sub/deeper", "-r")
    assert [x["key"] for x in records(r.stdout)] == [f"{KEY_PREFIX}{root}/sub/deeper/e.csv"]


def test_a_directory_without_r_says_so_and_filters_need_r(kit, tmp_path):
    (tmp_path / "d").mkdir()
    r = kit.transfer(f"file://{tmp_path}/d", f"s3://{BUCKET}/x/")
    assert r.returncode == 66 and b"is a directory (-r/--recursive" in r.stderr
    r = kit.transfer(f"file://{tmp_path}/d", "--include", "*.csv")
    assert r.returncode == 2 and b"add -r" in r.stderr


def test_dry_run_authorizes_and_checks_dest_but_reads_and_uploads_nothing(kit, tmp_path):
    root = tmp_path / "dr"
    root.mkdir()
    for n in ("new", "same", "denied"):
        (root / n).write_bytes(n.encode() * 10)
    os.chown(root / "denied", -1, grp.getgrnam("nogroup").gr_gid)
    os.chmod(root / "denied", 0o600)
    assert kit.transfer(f"file://{root}/same", f"s3://{BUCKET}/dr/").returncode == 0
    before = kit.objects()
    r = kit.transfer(f"file://{root}", f"s3://{BUCKET}/", "-r", "--dry-run")
    by = {os.path.basename(x["src"]): x for x in records(r.stdout)}
    assert by["new"]["status"] == "would_send" and by["new"]["exit_code"] == 0
    assert by["same"]["status"] == "would_skip"
    assert by["denied"]["status"] == "denied" and by["denied"]["exit_code"] == 77
    assert r.returncode == 77
    assert b"transfer: dry run, 3 files: 1 denied, 1 would_send, 1 would_skip; nothing read or uploaded" in r.stderr
    assert kit.objects() == before and not kit.open_uploads()
    r = kit.transfer(f"file://{root}/same", f"s3://{BUCKET}/dr/", "--dry-run", "--force")
    assert records(r.stdout)[0]["status"] == "would_replace" and r.returncode == 0


def test_parallel_files_share_one_setup_and_each_gets_its_record(kit, tmp_path):
    root = tmp_path / "par"
    root.mkdir()
    data = {f"f{i:02d}": os.urandom(1000 * i + (6 << 20 if i % 5 == 0 else 0)) for i in range(12)}
    for n, d in data.items():
        (root / n).write_bytes(d)
    r = kit.transfer(f"file://{root}", f"s3://{BUCKET}/par/", "-r", "-j", "4", "--part-size", "5MiB", "--debug")
    assert r.returncode == 0, r.stderr
    recs = records(r.stdout)
    assert sorted(x["key"] for x in recs) == sorted(f"par/par/{n}" for n in data)
    assert {x["status"] for x in recs} == {"ok"}
    err = r.stderr.decode()
    assert err.count("aws: sts.AssumeRole") == 1 and err.count("ssm.GetParametersByPath") == 1
    for n in ("f00", "f05", "f11"):
        assert kit.decrypt(f"par/par/{n}") == data[n]
    assert not kit.open_uploads()


def test_storage_class_tags_metadata_and_sse_reach_the_object_and_the_record(kit, tmp_path):
    src = tmp_path / "o.csv"
    src.write_bytes(b"x,y\n")
    r = kit.transfer(f"file://{src}", f"s3://{BUCKET}/o/", "--storage-class", "standard_ia", "--tag", "team=fin",
                     "--tag", "tier=cold x", "--metadata", "Owner=alice", "--sse", "s3")
    assert r.returncode == 0, r.stderr
    (rec,) = records(r.stdout)
    assert rec["storage_class"] == "STANDARD_IA" and rec["tags"] == {"team": "fin", "tier": "cold x"}
    assert rec["metadata"] == {"owner": "alice"} and rec["sse"] == "AES256"
    head = kit.s3.head_object(Bucket=BUCKET, Key="o/o.csv")
    assert head["StorageClass"] == "STANDARD_IA" and head["ServerSideEncryption"] == "AES256"
    assert head["Metadata"]["owner"] == "alice" and head["Metadata"]["h2s3-src"] == f"file://{src}"
    tags = kit.s3.get_object_tagging(Bucket=BUCKET, Key="o/o.csv")["TagSet"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("team", "fin"), ("tier", "cold x")]
    r = kit.transfer(f"file://{src}", f"s3://{BUCKET}/o2/", "--metadata", "h2s3-src=forged")
    assert r.returncode == 2 and b"toolkit's own" in r.stderr


@pytest.mark.hadoop
def test_an_hdfs_tree_is_listed_in_one_hadoop_call(kit, hadoop, hdfs_dir):
    hpath, local = hdfs_dir
    files = _tree(local / "tree", symlink=False)
    for i in range(8):
        files[f"more/m{i}.csv"] = b"m"
    (local / "tree" / "more").mkdir()
    for rel in files:
        if rel.startswith("more/"):
            (local / "tree" / rel).write_bytes(b"m")
    before = hadoop.launches()
    r = kit.transfer(f"{hpath}/tree", f"s3://{BUCKET}/h/", "-r", "--exclude", "*.txt", "--dry-run",
                     env=hadoop.env())
    assert r.returncode == 0, r.stderr
    want = sorted(f"{hpath}/tree/{rel}" for rel in files if not rel.endswith(".txt"))
    assert sorted(x["src"] for x in records(r.stdout)) == want
    # one `-ls -R` for the tree, then the authz batch for all 12 files (authz's own launches,
    # at most two: per filesystem); never one launch per file
    assert hadoop.launches() - before <= 3


def test_ls_lists_regular_files_and_a_directory_line_in_the_mapper_stands_for_its_files(kit, tmp_path):
    root = tmp_path / "lt"
    files = _tree(root)
    r = kit.run("hdfs2s3kit", "ls", f"file://{root}", "--exclude", "*.txt")
    assert r.returncode == 0, r.stderr
    assert sorted(r.stdout.decode().splitlines()) == sorted(
        f"file://{root}/{rel}" for rel in files if not rel.endswith(".txt"))
    r = kit.run("hdfs2s3kit", "map", "--dry-run", "--dest", f"s3://{BUCKET}/m", input=f"file://{root}/sub\n".encode())
    assert r.returncode == 0, r.stderr
    rows = [line.split("\t") for line in r.stdout.decode().splitlines()]
    assert sorted((row[0], row[1]) for row in rows) == sorted(
        ("would_send", f"file://{root}/{rel}") for rel in files if rel.startswith("sub/"))
    assert kit.objects() == []       # a dry run writes no manifest either
