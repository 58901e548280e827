"""Run the toolkit's commands as real subprocesses, from the venv under test."""

import os
import subprocess
import sys

BIN = os.path.dirname(sys.executable)


def cmd_path(name):
    return os.path.join(BIN, name)


def run(name, *args, input=None, env=None, timeout=300, check=False, **kw):
    """Run `name args...`; bytes in, CompletedProcess (bytes) out."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    return subprocess.run([cmd_path(name), *map(str, args)], input=input, env=full_env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                          check=check, **kw)
