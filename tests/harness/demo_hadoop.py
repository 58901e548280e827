"""`make demo-hadoop`: `hdfs2s3kit demo --hadoop` against a mini HDFS + YARN of its own.

Test infrastructure, not product (the package never imports from tests/): it starts, in this
order, a moto server on 127.0.0.1, the mini cluster (tests/minicluster) with that server's
endpoint in its environment -- the NodeManager hands it to the YARN containers, as a real node's
credential chain would -- and then the demo, pointed at both the standard way (HADOOP_CONF_DIR,
HADOOP_CMD, HADOOP_STREAMING_JAR, --aws-endpoint). Everything it started is stopped and removed
at the end, also on Ctrl-C; the demo's exit status is ours.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time

from . import minicluster
from .hadoop import world_tmp


def main(argv=None):
    ap = argparse.ArgumentParser(prog="make demo-hadoop")
    ap.add_argument("--archive", required=True, help="the toolkit archive (make archive)")
    ap.add_argument("--bin", default=os.path.dirname(sys.executable), help="where hdfs2s3kit is installed")
    a = ap.parse_args(argv)
    why = minicluster.skip_reason()
    if why:
        print(f"demo-hadoop: cannot run: {why}", file=sys.stderr)
        return 69
    from hdfs2s3kit import localaws

    base = world_tmp("h2s-demo-hadoop-")
    moto = mc = None
    # SIGTERM ends us like Ctrl-C, so the finally below stops what we started
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        moto, url = localaws.start_moto_server(os.path.join(base, "moto_server.log"))
        aws = {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "demo", "AWS_SECRET_ACCESS_KEY": "demo",
               "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
               "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
        print(f"demo-hadoop: moto_server at {url}; starting the mini HDFS + YARN in {base} "
              "(about a minute) ...", flush=True)
        t = time.monotonic()
        os.makedirs(os.path.join(base, "cluster"))
        mc = minicluster.start(os.path.join(base, "cluster"), env=aws, yarn=True)
        print(f"demo-hadoop: cluster up in {time.monotonic() - t:.0f} s: {mc.fs_uri}, YARN "
              f"{mc.ready.get('rm', '')}", flush=True)
        env = dict(os.environ, **aws, HADOOP_CONF_DIR=mc.conf_dir, HADOOP_CMD=mc.real_cmd,
                   HADOOP_STREAMING_JAR=mc.streaming_jar)
        env.pop("AWS_PROFILE", None)
        r = subprocess.run([os.path.join(a.bin, "hdfs2s3kit"), "demo", "--hadoop", "--aws-endpoint", url,
                            "--archive", os.path.abspath(a.archive)], env=env)
        return r.returncode
    except KeyboardInterrupt:
        print("demo-hadoop: interrupted", file=sys.stderr)
        return 130
    finally:
        if mc is not None:
            mc.stop()
        if moto is not None:
            localaws.stop_moto_server(moto)
        shutil.rmtree(base, ignore_errors=True)
        print("demo-hadoop: cluster and moto_server stopped, folders removed", flush=True)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    raise SystemExit(main())
