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


def children(pid):
    """The living children of pid, from /proc (every thread's list: a child belongs to the thread
    that forked it)."""
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(x) for x in f.read().split()]
    except OSError:     # pid (or one of its threads) ended meanwhile
        pass
    return out


def descendants(pid):
    """Every process below pid: its children, theirs, and so on."""
    found, todo = [], [pid]
    while todo:
        kids = children(todo.pop())
        found += kids
        todo += kids
    return found


def alive(pid):
    """Is pid running? A zombie is dead, just not reaped."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
