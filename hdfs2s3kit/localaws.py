"""A local AWS for the demo, the tests and the benchmarks: `moto_server` on a
free port of 127.0.0.1 (never any other address), reached by clients through
AWS_ENDPOINT_URL like any endpoint."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

from . import errors


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _executable():
    exe = os.path.join(os.path.dirname(sys.executable), "moto_server")
    if os.access(exe, os.X_OK):
        return exe
    exe = shutil.which("moto_server")
    if not exe:
        raise errors.UnavailableError("moto_server not found: install the test extras (`make venv`)")
    return exe


def start_moto_server(log_path, *, env=None, timeout=60):
    """Start moto_server, logging to log_path; -> (process, url) once it answers.

    `env` adds server settings (e.g. S3_UPLOAD_PART_MIN_SIZE). If it does not
    answer within `timeout` seconds: UnavailableError with the log's tail."""
    port = _free_port()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([_executable(), "-H", "127.0.0.1", "-p", str(port)], stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=dict(os.environ, **(env or {}), MOTO_PORT=str(port)))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url + "/moto-api/data.json", timeout=2).read()
            return proc, url
        except Exception:  # noqa: BLE001 - not up yet
            if proc.poll() is not None or time.monotonic() > deadline:
                stop_moto_server(proc)
                with open(log_path, errors="replace") as f:
                    tail = f.read()[-300:].replace("\n", " ")
                raise errors.UnavailableError(f"moto_server did not start: {tail}") from None
            time.sleep(0.2)


def stop_moto_server(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
