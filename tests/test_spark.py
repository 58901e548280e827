"""The mapper under Spark: RDD.pipe in local mode, one mapper process per partition.

One SparkContext for the test session (a JVM start costs 4-14 s), plus the one
`hdfs2s3kit job --engine spark` starts in its own spark-submit; two tests. The job's
listing is on the session's real mini HDFS (harness/minicluster.py), as on a cluster."""

import os
import shutil
import sys

import pytest
from harness import proc

from hdfs2s3kit import spark_runner
from test_map_support import mapkit, parse_tsv  # noqa: F401 - mapkit is a fixture

pytestmark = pytest.mark.spark


@pytest.fixture(scope="session")
def sc():
    pyspark = pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("no java on PATH: Spark needs a Java runtime (make test installs default-jre-headless)")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    conf = pyspark.SparkConf().setMaster("local[2]").setAppName("hdfs2s3kit-test") \
        .set("spark.ui.enabled", "false").set("spark.speculation", "false") \
        .set("spark.driver.host", "127.0.0.1").set("spark.driver.bindAddress", "127.0.0.1")
    ctx = pyspark.SparkContext(conf=conf)
    ctx.setLogLevel("ERROR")
    yield ctx
    ctx.stop()


def mapper_argv(run_id, *extra):
    return [sys.executable, "-m", "hdfs2s3kit.cli.main", "map", "--run-id", run_id, "--heartbeat", "5", *extra]


def write_listing(mapkit, lines):
    path = mapkit.root / "listing.txt"
    path.write_text("".join(line + "\n" for line in lines))
    return str(path)


def test_job_engine_spark_reads_its_listing_from_hdfs_and_pipes_24_files_one_mapper_per_partition(
        mapkit, minicluster, hdfs_home):
    """The command users run: spark-submit of spark_runner.py (its own JVM), TSV on stdout, with
    the listing on the real mini HDFS as an hdfs:// URI (Spark's own Hadoop client reads it)."""
    if shutil.which("java") is None:
        pytest.skip("no java on PATH: Spark needs a Java runtime (make test installs default-jre-headless)")
    urls = mapkit.make_files(24)
    minicluster.su_fs("-put", write_listing(mapkit, urls), f"{hdfs_home}/listing.txt")
    listing = minicluster.uri(f"{hdfs_home}/listing.txt")
    # PATH without the venv: spark-submit must still find pyspark, and pipe's child our interpreter.
    r = proc.run("hdfs2s3kit", "job", "--engine", "spark", "--input", listing, "--run-id", "spark-ok",
                 "--lines-per-map", "6", env=dict(mapkit.env, PATH="/usr/bin:/bin"), timeout=400)
    err = r.stderr.decode(errors="replace")
    assert r.returncode == 0, err[-3000:]
    rows = parse_tsv(r.stdout)           # stdout is data only: Spark's logs went to stderr
    assert sorted(x["src"] for x in rows) == sorted(urls) and {x["status"] for x in rows} == {"ok"}
    assert set(mapkit.objects()) == {mapkit.key_for(u) for u in urls}
    s = mapkit.summary("spark-ok")
    # The AWS variables and the config prefix reached the children only because pipe got env=.
    assert (s["files"], s["ok"], s["attempts"]) == (24, 24, 4)      # four partitions, four mapper processes


def test_a_failing_mapper_fails_the_spark_job_with_its_exit_code(sc, mapkit):
    urls = mapkit.make_files(20)
    missing = "file://" + str(mapkit.src_dir / "missing.bin")
    listing = write_listing(mapkit, urls[:10] + [missing] + urls[10:])
    rdd, partitions = spark_runner.partitioned(sc, listing, 7)
    assert partitions == 3 and rdd.glom().map(len).collect() == [7, 7, 7]
    with pytest.raises(Exception) as exc:      # checkCode=True: without it this would pass silently
        spark_runner.pipe_mapper(sc, listing, mapper_argv("spark-bad"), lines_per_map=21).collect()
    assert spark_runner.mapper_exit_code(exc.value) == 66
    # One partition: the mapper went on past the bad file, and the manifest says what happened.
    s = mapkit.summary("spark-bad")
    assert (s["files"], s["ok"], s["failed"]) == (21, 20, 1)
    assert s["failures"][0]["src"] == missing and s["failures"][0]["status"] == "no_input"
    assert len(mapkit.objects()) == 20
