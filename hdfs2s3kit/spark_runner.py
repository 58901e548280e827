"""Spark driver: the mapper through RDD.pipe (`spark-submit spark_runner.py ...`).

    spark-submit --master local[2] spark_runner.py --input LISTING [--lines-per-map N]
                 [--run-id ID] [--output DIR] -- /abs/python -m hdfs2s3kit.cli.main map ...

The listing is cut into contiguous groups of N lines, one partition each, so
each partition is one mapper process that pays its set-up once, like a
Hadoop NLineInputFormat split. Two things PySpark does not do by default:
the piped child gets an empty environment unless `env` is given (no AWS
variables, no config prefix), and its exit status is ignored unless
`checkCode=True` (a failing mapper would look like success).
"""

import argparse
import math
import os
import re
import shlex
import sys

_EXIT_RE = re.compile(r"exited with error code (\d+)")


def partitioned(sc, listing, lines_per_map):
    """(rdd of lines, partitions): lines i*N .. i*N+N-1 in partition i."""
    lines = sc.textFile(listing).filter(lambda s: s.strip() != "")
    total = lines.count()
    n = max(1, math.ceil(total / lines_per_map))
    keyed = lines.zipWithIndex().map(lambda li: (li[1] // lines_per_map, li[0]))
    return keyed.partitionBy(n, lambda k: k).values(), n


def pipe_mapper(sc, listing, mapper_argv, *, lines_per_map=200, env=None):
    """Run the mapper over the listing; returns its TSV output lines.

    Raises the Spark job's exception when any mapper exits non-zero.
    """
    rdd, _ = partitioned(sc, listing, lines_per_map)
    child_env = dict(os.environ, **(env or {}))
    return rdd.pipe(shlex.join(mapper_argv), env=child_env, checkCode=True)


def mapper_exit_code(exc):
    """The mapper's exit code, from the Spark error text, when it failed."""
    m = _EXIT_RE.search(str(exc))
    return int(m.group(1)) if m else None


def main(argv=None):
    p = argparse.ArgumentParser(prog="hdfs2s3kit-spark", description=__doc__.split("\n\n")[0])
    p.add_argument("--input", required=True, help="listing of sources, one per line")
    p.add_argument("--lines-per-map", type=int, default=200)
    p.add_argument("--run-id", required=True)
    p.add_argument("--output", help="save the mapper's TSV with saveAsTextFile (a folder, any Hadoop FS)")
    p.add_argument("--tsv", help="write the mapper's TSV to this local file (spark-submit merges the "
                                 "driver's stderr into its stdout, so stdout cannot carry data)")
    p.add_argument("mapper", nargs=argparse.REMAINDER, help="-- MAPPER COMMAND...")
    a = p.parse_args(argv)
    mapper = a.mapper[1:] if a.mapper[:1] == ["--"] else a.mapper
    if not mapper or not os.path.isabs(mapper[0]):
        p.error("the mapper command must start with an absolute interpreter path")

    from pyspark import SparkContext

    sc = SparkContext.getOrCreate()
    # A failing mapper makes Spark log Java stack traces; we print its one line instead.
    sc.setLogLevel(os.environ.get("HDFS2S3_SPARK_LOG_LEVEL", "OFF"))
    try:
        out = pipe_mapper(sc, a.input, mapper, lines_per_map=a.lines_per_map, env={"HDFS2S3_RUN_ID": a.run_id})
        if a.output:
            out.saveAsTextFile(a.output)
        else:
            lines = out.collect()
            with open(a.tsv, "w", encoding="utf-8") if a.tsv else _stdout() as f:
                f.writelines(line + "\n" for line in lines)
        rc = 0
    except Exception as e:  # noqa: BLE001 - Py4J wraps the mapper's failure
        code = mapper_exit_code(e)
        first = next((ln for ln in str(e).splitlines() if "exited with error code" in ln), None)
        print(f"hdfs2s3kit job: spark: {first.strip() if first else type(e).__name__ + ': ' + str(e).splitlines()[0]}",
              file=sys.stderr, flush=True)
        rc = code or 1
    finally:
        sys.stdout.flush()
        sc.stop()
    print(f"hdfs2s3kit job: run {a.run_id} finished (exit {rc}); summary: hdfs2s3kit report {a.run_id}",
          file=sys.stderr, flush=True)
    return rc


class _stdout:
    def __enter__(self):
        return sys.stdout

    def __exit__(self, *exc):
        sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
