"""Directories as sources: list each tree once, keep regular files, filter.

`transfer -r SRC_DIR... DEST/` and `hdfs2s3kit ls -r` list a tree with ONE
Hadoop call per tree (`hadoop fs -ls -R DIR`, whose long format says which
entries are regular files: `-rw-r--r--` lines, not `d` directories, `l`
links or others), not one call per file; `file://` trees are walked locally
(symbolic links are not followed and not sent). The files found then go
through the usual batched authz `-stat` like any listed file.

Filters (`--include` / `--exclude`, rclone-like globs) are matched against a
file's path relative to the tree it was found in:

    *      any run of characters except '/'      (*.csv)
    **     any run of characters including '/'   (logs/**)
    ?      one character except '/'
    [a-z]  one character of a class; {a,b} one of the alternatives; \\x a literal x
    /...   anchored at the top of the tree; otherwise the pattern may match
           the path's end at any depth (`*.csv` matches a.csv and x/y/a.csv)
    .../   a trailing '/' means everything below that directory (dir/ = dir/**)

A file is kept if no --exclude matches it and, when any --include is given,
at least one --include matches it (excludes win). Explicit file sources are
never filtered: they were asked for by name.
"""

import os
import re
import stat as statmod

from . import errors, hdfs

# perms, replication ('-' for dirs), owner, group, size, date time, path (rest of line)
_LS_LINE = re.compile(r"^([-dlbcps])[rwxsStT-]{9}[+.@]?\s+(?:\d+|-)\s+(\S+)\s+(\S+)\s+(\d+)\s+"
                      r"\d{4}-\d\d-\d\d \d\d:\d\d\s(.+)$")


# ---------------------------------------------------------------- filters

def glob_regex(pattern):
    """An rclone-like glob (see the module docstring) as a compiled regex over relative paths."""
    if not pattern:
        raise errors.UsageError("empty --include/--exclude pattern")
    anchored = pattern.startswith("/")
    pat = pattern.lstrip("/")
    if pat.endswith("/"):
        pat += "**"
    out, i, depth = [], 0, 0
    while i < len(pat):
        c = pat[i]
        if c == "\\" and i + 1 < len(pat):
            out.append(re.escape(pat[i + 1]))
            i += 2
            continue
        if c == "*":
            if pat.startswith("**", i):
                out.append(".*")
                i += 2
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = pat.find("]", i + 2 if pat.startswith("[!", i) or pat.startswith("[^", i) else i + 1)
            if j < 0:
                raise errors.UsageError(f"unclosed '[' in pattern {pattern!r}")
            body = pat[i + 1:j]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = j + 1
            continue
        elif c == "{":
            depth += 1
            out.append("(?:")
        elif c == "}" and depth:
            depth -= 1
            out.append(")")
        elif c == "," and depth:
            out.append("|")
        else:
            out.append(re.escape(c))
        i += 1
    if depth:
        raise errors.UsageError(f"unclosed '{{' in pattern {pattern!r}")
    body = "".join(out)
    return re.compile(("^" if anchored else "^(?:.*/)?") + body + "$", re.S)


class Filter:
    def __init__(self, include=(), exclude=()):
        self.include = [glob_regex(p) for p in include or ()]
        self.exclude = [glob_regex(p) for p in exclude or ()]

    def __bool__(self):
        return bool(self.include or self.exclude)

    def keep(self, rel):
        if any(r.match(rel) for r in self.exclude):
            return False
        return not self.include or any(r.match(rel) for r in self.include)


# ---------------------------------------------------------------- listing

class Entry:
    __slots__ = ("path", "rel", "is_file")

    def __init__(self, path, rel, is_file):
        self.path, self.rel, self.is_file = path, rel, is_file


def _rel(root, path):
    base = root.rstrip("/")
    if path == root or path == base:
        return None                  # the root itself: a file given as a "tree"
    if base and path.startswith(base + "/"):
        return path[len(base) + 1:]
    return None


def list_local(root):
    """Entries under a file:// root (regular files and others), sorted; symlinks not followed."""
    top = hdfs.local_path(root)
    scheme_root = root.rstrip("/") if root.rstrip("/") != "file:" else root
    try:
        st = os.lstat(top)
    except FileNotFoundError:
        raise errors.NoInputError(f"{root}: no such file or directory") from None
    except PermissionError:
        raise errors.PermissionDeniedError(f"{root}: permission denied") from None
    if not statmod.S_ISDIR(st.st_mode):
        return [Entry(root, os.path.basename(top.rstrip("/")), statmod.S_ISREG(st.st_mode))]
    out = []
    for dirpath, dirnames, filenames in os.walk(top, onerror=None, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames) + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, top)
            try:
                is_file = statmod.S_ISREG(os.lstat(full).st_mode)
            except OSError:
                is_file = False
            out.append(Entry(f"{scheme_root}/{rel}", rel, is_file))
    return out


def parse_ls(root, text):
    """`hadoop fs -ls -R ROOT` output -> [Entry] (paths as the client prints them)."""
    out = []
    for line in text.split("\n"):
        m = _LS_LINE.match(line.rstrip("\r"))
        if not m:
            continue
        kind, _owner, _group, _size, path = m.groups()
        rel = _rel(root, path)
        if rel is None:
            if path.rstrip("/") == root.rstrip("/") and kind == "-":
                out.append(Entry(path, path.rstrip("/").rsplit("/", 1)[-1], True))
            continue
        out.append(Entry(path, rel, kind == "-"))
    return out


def list_remote(root, hadoop_cmd=None):
    """One `hadoop fs -ls -R` for the whole tree."""
    argv = hdfs.hadoop_argv(hadoop_cmd)
    rc, out, err = hdfs.run_collect(argv, ["-ls", "-R", hdfs.glob_escape(root)])
    text = out.decode(errors="surrogateescape")
    entries = parse_ls(root, text)
    if rc != 0 and not entries:
        msg = hdfs.meaningful_line(err.decode(errors="replace"), "ls")
        e = hdfs._classify(root, msg.replace("ls: ", "stat: ", 1) if msg.startswith("ls: ") else msg)
        if e.code == errors.IOERR and not msg.startswith("ls: "):
            raise errors.UnavailableError(f"hadoop fs -ls -R {root} failed: {msg or f'exit {rc}'}")
        raise e
    return entries


def list_tree(root, hadoop_cmd=None):
    hdfs.check_path(root)
    return list_local(root) if hdfs.is_local(root) else list_remote(root, hadoop_cmd)


def _dest_under(dest, root, rel):
    """DEST/ + the tree's own name + rel, like `cp -r DIR DEST/`; a root ending in '/'
    sends what it holds (rsync's convention): DEST/ + rel."""
    if not dest:
        return None
    if root.endswith("/"):
        return dest + rel
    name = hdfs.local_path(root).rstrip("/") if hdfs.is_local(root) else root.rstrip("/")
    name = name.rsplit("/", 1)[-1]
    return f"{dest}{name}/{rel}" if name else dest + rel


def expand(items, *, filt=None, hadoop_cmd=None, on_error=None):
    """[(src, dest)] with directories replaced by their regular files (one listing per
    tree). A source that cannot be listed stays as it is, so its own transfer
    reports why (66 missing, 77 denied); `on_error(src, err)` hears about it."""
    filt = filt or Filter()
    out = []
    for src, dest in items:
        if dest and not dest.endswith("/"):
            out.append((src, dest))      # an explicit object name: one file
            continue
        try:
            entries = list_tree(src, hadoop_cmd)
        except errors.KitError as e:
            if e.code == errors.UNAVAILABLE:
                raise
            if on_error:
                on_error(src, e)
            out.append((src, dest))
            continue
        if len(entries) == 1 and entries[0].path.rstrip("/") == src.rstrip("/"):
            out.append((src, dest))      # a file, not a tree: taken as given, unfiltered
            continue
        for e in entries:
            if e.is_file and filt.keep(e.rel):
                out.append((e.path, _dest_under(dest, src, e.rel)))
    return out
