"""The Hadoop client as a subprocess: batched `-stat`, checked `-cat`; `file://` locally.

Every `hadoop fs` call starts a JVM (about a second), so `stat_many` asks about
thousands of paths in one call. `-stat` prints one line per path that exists
and only an stderr message for one that does not, so lines cannot be matched to
paths by position alone: after every path we also stat `/` (which always
exists and is the only thing whose name prints empty) as a separator. Paths
are glob-escaped so one argument can never expand into several entries.

`open_source` never lets a failed read pass for a short file: the reader's
exit status and the byte count are checked at EOF (74 otherwise).
`open_checked` takes the expected length from `-stat`, run alongside the
`-cat` so its JVM start costs no wall time.
"""

import errno
import grp
import io
import os
import posixpath
import pwd
import re
import stat as statmod
import threading

from . import errors, fastio

ENV_VAR = "HADOOP_CMD"
DEFAULT_CMD = "hadoop"
STAT_FORMAT = "%F|%u|%g|%a|%b|%Y|%n"
SEPARATOR = "/"
# A batch's argv is sized from the kernel's real limits (arg_budget: ARG_MAX, which
# `ulimit -s` moves, minus the environment); one JVM still handles a whole
# `hadoop fs -ls` page worth of paths.
MAX_BATCH_PATHS = 20000
MAX_BATCH_BYTES = 1 << 20
# Linux: no single argument may be longer than 32 pages, its NUL included.
MAX_ARG_STRLEN = 32 * os.sysconf("SC_PAGE_SIZE")
_STAT_LINE = re.compile(r"^([a-z ]+)\|([^|]*)\|([^|]*)\|([0-7]{1,4})\|(\d+)\|(\d+)\|(.*)$")
_GLOB_CHARS = re.compile(r"([\\*?\[\]{}])")
_URL_ONLY_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:(?!/)")
_FS = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*:)(//[^/]*)?(.*)$", re.S)
# subprocess, shutil and shlex are imported where a Hadoop client is launched, not here: a
# run on file:// paths (authz-check of local files) never launches one, and the three cost
# ~4 ms of the 0.12 CPU-s start-up budget (issue 15).


class FileStat:
    # A plain class, not a dataclass: `dataclasses` pulls in `inspect` (~15 ms of a filter's
    # 0.12 CPU-s start-up, issue 15). Nothing compares stats whole (binding._same compares the
    # fields that matter) or sets an attribute after __init__.
    __slots__ = ("path", "owner", "group", "mode", "length", "mtime", "is_dir", "uid", "gid")

    def __init__(self, path, owner, group, mode, length, mtime, is_dir, uid=None, gid=None):
        self.path = path
        self.owner = owner
        self.group = group
        self.mode = mode            # permission bits, e.g. 0o640
        self.length = length
        self.mtime = mtime          # seconds since the epoch
        self.is_dir = is_dir
        self.uid = uid              # file:// only: local decisions compare ids, not names
        self.gid = gid

    def as_dict(self):
        return {"owner": self.owner, "group": self.group, "mode": f"{self.mode:04o}",
                "length": self.length, "mtime": self.mtime, "is_dir": self.is_dir}


def hadoop_argv(hadoop_cmd=None):
    """The Hadoop client as an argument list: HADOOP_CMD may hold a command and its own
    arguments (split like a shell would, but never run through one). A site policy's
    `hadoop_cmd` (sitepolicy) overrides both: then the user's HADOOP_CMD does not count.
    Before any launch, the identity the client will present must be bound to the Linux user
    (hadoopident.bind: 77 otherwise, or with no valid Kerberos ticket)."""
    import shlex
    import shutil

    from . import hadoopident, sitepolicy

    hadoopident.bind()
    pinned, _where = sitepolicy.pinned_hadoop_cmd()
    cmd = pinned or hadoop_cmd or os.environ.get(ENV_VAR) or DEFAULT_CMD
    argv = shlex.split(cmd) if isinstance(cmd, str) else list(cmd)
    if not argv or shutil.which(argv[0]) is None:
        raise errors.UnavailableError(
            f"Hadoop client not found: '{argv[0] if argv else cmd}' (install it or set {ENV_VAR})")
    return argv


def is_local(path):
    return path.startswith("file:")


def local_path(path):
    """file:///a/b, file:/a/b, file://localhost/a/b -> /a/b."""
    rest = path[len("file:"):]
    if rest.startswith("//"):
        host, _, tail = rest[2:].partition("/")
        if host not in ("", "localhost"):
            raise errors.UsageError(f"{path}: file:// paths must be on this host")
        rest = "/" + tail
    if not rest.startswith("/"):
        raise errors.UsageError(f"{path}: file: paths must be absolute")
    return rest


def check_path(path):
    """Refuse what could be read as an option or cannot be a single path."""
    if not path:
        raise errors.UsageError("empty path")
    if path.startswith("-"):
        raise errors.UsageError(f"refusing path that starts with '-': {path}")
    if "\n" in path or "\0" in path:
        raise errors.UsageError(f"refusing path with a newline or NUL: {path!r}")
    n = len(glob_escape(path).encode(errors="surrogateescape"))
    if n >= MAX_ARG_STRLEN:
        raise errors.UsageError(f"refusing a path of {n} bytes ({path[:40]!r}...): longer than one "
                                f"command-line argument may be ({MAX_ARG_STRLEN - 1} bytes)")
    if _URL_ONLY_SCHEME.match(path):
        # `a:b`, `hdfs:x`: Hadoop reads a scheme with no path; in a batch it fails every path
        raise errors.UsageError(f"refusing {path!r}: not an absolute path or a scheme:/path URL")


def glob_escape(path):
    return _GLOB_CHARS.sub(r"\\\1", path)


def _is_root(path):
    """'/', 'hdfs://nn/', 'viewfs://c' ...: a filesystem root prints an empty name like
    the separator does, so it is asked about on its own."""
    m = _FS.match(path)
    rest = m.group(3) if m else path
    return rest == "" or (rest.startswith("/") and posixpath.normpath(rest).strip("/") == "")


def meaningful_line(stderr_text, prefix=None):
    """The first line of a JVM's stderr a person needs: the `cmd: message` line, else an
    exception line, never log noise or a stack frame."""
    lines = [ln.strip() for ln in stderr_text.splitlines()]
    noise = re.compile(r"^(\d{2,4}[-/]\d\d[-/]\d\d[ T]\S+ +(WARN|INFO|DEBUG|TRACE)\b|SLF4J:|log4j:|at |\.\.\. \d+ more"
                       r"|WARNING:)")
    lines = [ln for ln in lines if ln and not noise.match(ln)]
    if prefix:
        for ln in lines:
            if ln.startswith(prefix + ": "):
                return ln
    for ln in lines:
        if "Exception" in ln or "Error" in ln:
            return re.sub(r"^Exception in thread \"[^\"]*\" ", "", ln)
    return lines[0] if lines else ""


def _classify(path, message):
    """A per-path `hadoop fs` error message -> KitError with the right exit code."""
    text = message.split(": ", 1)[1] if message.startswith(("stat: ", "cat: ")) else message
    low = text.lower()
    if "no such file or directory" in low or "does not exist" in low:
        return errors.NoInputError(f"{path}: no such file or directory")
    if "permission denied" in low or "accesscontrolexception" in low:
        return errors.PermissionDeniedError(f"{path}: permission denied reading its status ({text})",
                                            status="stat_denied")
    return errors.KitIOError(f"{path}: {text or 'hadoop fs -stat failed'}")


def _raise_auth_failure(stderr_text):
    from . import hadoopident

    err = hadoopident.auth_failure(stderr_text)
    if err is not None:
        raise err


def _parse_stat(path, line):
    m = _STAT_LINE.match(line)
    kind, owner, group, mode, length, mtime, _name = m.groups()
    return FileStat(path, owner, group, int(mode, 8), int(length), int(mtime) / 1000.0, kind == "directory")


def _popen(argv, args, capture=False, **kw):
    """capture: stdout and stderr as pipes."""
    import subprocess

    if capture:
        kw.update(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        return subprocess.Popen([*argv, "fs", *args], stdin=subprocess.DEVNULL, **kw)
    except (FileNotFoundError, PermissionError) as e:
        raise errors.UnavailableError(f"cannot run the Hadoop client '{argv[0]}': {e.strerror}") from None


def popen_fs(argv, args, **kw):
    """`hadoop fs ARGS` started as a process (an argument list, stdin from /dev/null): the seam for
    modules that run and collect a subcommand of their own (hdfscrc's -checksum)."""
    return _popen(argv, args, **kw)


class Cancel:
    """Lets another thread stop the `hadoop fs` runs made with it (run_collect, stat_many):
    cancel(error) kills the JVM running now, and that run and every later one raise `error`.
    An interrupted run must not leave a JVM behind, nor read a killed one's output as an answer."""

    def __init__(self):
        self._lock = threading.Lock()
        self._procs = set()
        self.error = None

    def check(self):
        if self.error is not None:
            raise self.error

    def started(self, proc):
        with self._lock:
            self._procs.add(proc)
            if self.error is not None:
                proc.kill()

    def ended(self, proc):
        with self._lock:
            self._procs.discard(proc)

    def cancel(self, error):
        with self._lock:
            if self.error is None:
                self.error = error
            for proc in self._procs:
                if proc.poll() is None:
                    proc.kill()


def _stat_args(paths):
    """`-stat` arguments: a batch with separators, or a root on its own."""
    if len(paths) == 1 and _is_root(paths[0]):
        return ["-stat", STAT_FORMAT, glob_escape(paths[0])]
    args = ["-stat", STAT_FORMAT]
    for p in paths:
        args += [glob_escape(p), SEPARATOR]
    return args


def _stat_lines(stdout):
    return [ln for ln in stdout.decode(errors="surrogateescape").split("\n") if _STAT_LINE.match(ln)]


def _parse_stat_output(paths, rc, stdout, stderr):
    """{path: FileStat | KitError} from one `-stat` run over _stat_args(paths)."""
    stderr = stderr.decode(errors="replace")
    lines = _stat_lines(stdout)
    if len(paths) == 1 and _is_root(paths[0]):
        p = paths[0]
        return {p: _parse_stat(p, lines[0]) if len(lines) == 1 else _classify(p, meaningful_line(stderr, "stat"))}
    groups, cur = [], []
    for ln in lines:
        m = _STAT_LINE.match(ln)
        if m.group(1) == "directory" and m.group(7) == "":
            groups.append(cur)
            cur = []
        else:
            cur.append(ln)
    if len(groups) != len(paths) or cur:
        # The separator did not answer: the client itself is broken (no config, cluster down),
        # or could not authenticate (one line, 77: never the JVM's trace).
        _raise_auth_failure(stderr)
        why = meaningful_line(stderr, "stat") or f"exit {rc}"
        raise errors.UnavailableError(f"hadoop fs -stat failed: {why}")
    failed = [p for p, g in zip(paths, groups) if not g]
    errs = [ln.strip() for ln in stderr.splitlines() if ln.startswith("stat: ")]
    by_path = dict(zip(failed, errs)) if len(errs) == len(failed) else {}
    out = {}
    for p, g in zip(paths, groups):
        if len(g) == 1:
            out[p] = _parse_stat(p, g[0])
        elif not g:
            msg = by_path.get(p) or next((e for e in errs if f"`{glob_escape(p)}'" in e), "")
            out[p] = _classify(p, msg)
        else:
            out[p] = errors.KitIOError(f"{p}: hadoop fs -stat answered {len(g)} entries for one path")
    return out


def run_collect(argv, args, cancel=None):
    """One `hadoop fs ARGS` run to its end -> (exit status, stdout, stderr) as bytes;
    the JVM is killed if we are interrupted while waiting (a signal must not orphan it),
    or when another thread cancels (a Cancel): then the Cancel's error is raised."""
    if cancel is not None:
        cancel.check()
    proc = _popen(argv, args, capture=True)
    if cancel is not None:
        cancel.started(proc)
    try:
        with proc:
            try:
                out, err = proc.communicate()
            except BaseException:
                proc.kill()
                raise
    finally:
        if cancel is not None:
            cancel.ended(proc)
    if cancel is not None:
        cancel.check()
    return proc.returncode, out, err


def _stat_run(argv, paths, cancel=None):
    """One JVM for all of paths (a batch, or a single root)."""
    return _parse_stat_output(paths, *run_collect(argv, _stat_args(paths), cancel))


def _name(db, num):
    try:
        return db(num)[0]
    except KeyError:
        return str(num)


def stat_local(path):
    """FileStat of a file:// path, owner/group by name as NSS gives them (and by id)."""
    p = local_path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        return errors.NoInputError(f"{path}: no such file or directory")
    except PermissionError:
        return errors.PermissionDeniedError(f"{path}: permission denied reading its status", status="stat_denied")
    except OSError as e:
        return errors.KitIOError(f"{path}: {e.strerror}")
    return local_filestat(path, st)


def local_filestat(path, st):
    """FileStat from an os.stat_result (of a path, or fstat of an open descriptor)."""
    return FileStat(path, _name(lambda u: pwd.getpwuid(u), st.st_uid), _name(lambda g: grp.getgrgid(g), st.st_gid),
                    statmod.S_IMODE(st.st_mode), st.st_size, st.st_mtime, statmod.S_ISDIR(st.st_mode),
                    st.st_uid, st.st_gid)


def arg_budget(argv):
    """Bytes of command line left for paths: ARG_MAX (from the stack limit) minus the
    environment and the fixed arguments, minus a reserve for what the `hadoop` launcher
    adds when it execs the JVM (classpath, options, an exported CLASSPATH)."""
    arg_max = os.sysconf("SC_ARG_MAX")
    env = sum(len(k) + len(v) + 2 + 8 for k, v in os.environb.items())
    fixed = sum(len(os.fsencode(a)) + 1 + 8 for a in [*argv, "fs", "-stat", STAT_FORMAT])
    reserve = max(arg_max // 4, 64 << 10)
    return max(min(arg_max - env - fixed - reserve, MAX_BATCH_BYTES), 16 << 10)


def _arg_cost(path):
    """argv bytes a path costs in a -stat batch: itself, the separator, their NULs and pointers."""
    return len(glob_escape(path).encode(errors="surrogateescape")) + 1 + 8 + len(SEPARATOR) + 1 + 8


def batches(paths, argv):
    """Paths in batches that each fit one `hadoop fs` command line of argv (arg_budget)."""
    return _batches(paths, arg_budget(argv))


def _batches(paths, budget=MAX_BATCH_BYTES):
    batch, size = [], 0
    for p in paths:
        n = _arg_cost(p)
        if batch and (len(batch) >= MAX_BATCH_PATHS or size + n > budget):
            yield batch
            batch, size = [], 0
        batch.append(p)
        size += n
    if batch:
        yield batch


def _filesystem(path):
    """(key, root) of the filesystem a path names: 'hdfs://nn:8020' for a URL, '' (the default
    filesystem, root '/') for a bare path. Paths of one filesystem share a batch."""
    m = _FS.match(path)
    if not m:
        return "", "/"
    key = m.group(1) + (m.group(2) or "")
    return key, key + "/"


def _stat_robust(argv, paths, root, default_fs, probed=False, cancel=None):
    """_stat_run over a batch that cannot take the others down with it: argv too long for the
    kernel splits the batch; a batch that fails as a whole is told apart, with one probe of
    its filesystem's root, from a filesystem that is unusable (then every path gets that
    error, or the run stops for the default filesystem: the client itself is broken) and from
    one path Hadoop cannot take (then the batch is halved until that path fails alone)."""
    try:
        return _stat_run(argv, paths, cancel)
    except OSError as e:
        if e.errno != errno.E2BIG:
            raise errors.UnavailableError(f"cannot run the Hadoop client '{argv[0]}': {e.strerror}") from None
        if len(paths) == 1:
            return {paths[0]: errors.UsageError(f"{paths[0][:60]!r}...: too long for a command line")}
        failure = None
    except errors.UnavailableError as e:
        failure = e
    if failure is not None:
        if len(paths) == 1:
            return {paths[0]: errors.UnavailableError(f"{paths[0]}: {failure.message}")}
        if not probed:
            try:
                usable = isinstance(_stat_run(argv, [root], cancel).get(root), FileStat)
            except errors.UnavailableError:
                usable = False
            if not usable:
                if default_fs:
                    raise failure
                return {p: errors.UnavailableError(f"{p}: {failure.message}") for p in paths}
            probed = True
    half = len(paths) // 2
    out = _stat_robust(argv, paths[:half], root, default_fs, probed, cancel)
    out.update(_stat_robust(argv, paths[half:], root, default_fs, probed, cancel))
    return out


def stat_many(paths, hadoop_cmd=None, *, cancel=None):
    """{path: FileStat | KitError} for every path; HDFS paths in as few JVMs as possible.

    A per-path problem (missing, refused, unreadable, too long, a filesystem Hadoop cannot
    reach, a path it cannot parse) is a value and never fails the others; a broken or
    missing Hadoop client raises (UnavailableError, 69). `cancel` (a Cancel) lets another
    thread stop it (its error is raised)."""
    out, remote = {}, []
    for p in dict.fromkeys(paths):
        try:
            check_path(p)
        except errors.KitError as e:
            out[p] = e
            continue
        if is_local(p):
            try:
                out[p] = stat_local(p)
            except errors.KitError as e:
                out[p] = e
        else:
            remote.append(p)
    if remote:
        argv = hadoop_argv(hadoop_cmd)
        budget = arg_budget(argv)
        groups = {}
        for p in remote:
            groups.setdefault(_filesystem(p), []).append(p)
        for (key, root), members in groups.items():
            for batch in _batches([p for p in members if not _is_root(p)], budget):
                out.update(_stat_robust(argv, batch, root, key == "", cancel=cancel))
            for p in members:
                if _is_root(p):
                    out.update(_stat_robust(argv, [p], root, key == "", cancel=cancel))
    return out


def stat_one(path, hadoop_cmd=None):
    """FileStat of one path; raises its KitError."""
    r = stat_many([path], hadoop_cmd)[path]
    if isinstance(r, errors.KitError):
        raise r
    return r


class _CheckedReader(io.RawIOBase):
    """Counts bytes; at EOF checks them (and the reader's exit) before saying EOF."""

    def __init__(self, src, expected_length):
        super().__init__()
        self.src = src
        self.expected_length = expected_length
        self.stat = None  # the FileStat the length came from, when open_checked fetched it
        self.bytes_read = 0
        self._done = False

    def readable(self):
        return True

    def _raw_readinto(self, b):
        raise NotImplementedError

    def _finish(self):
        """Raise if the source ended badly; may set expected_length (a status fetched alongside)."""

    def _poll_expected(self):
        """Pick up a length that became known while reading."""

    def readinto(self, b):
        if self._done:
            return 0
        return self._account(self._raw_readinto(b))

    def send_to(self, fd, count=1 << 20):
        """Move up to count bytes straight into fd, inside the kernel (splice/sendfile), with the
        same checks as readinto. None when this reader and fd cannot (nothing moved: use readinto)."""
        if self._done:
            return 0
        try:
            n = self._raw_send(fd, count)
        except OSError as e:
            if e.errno in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                return None
            if e.errno == errno.EPIPE:
                raise
            raise errors.KitIOError(f"reading {self.src}: {e.strerror}") from None
        return self._account(n)

    def _raw_send(self, fd, count):
        raise OSError(errno.ENOSYS, "not supported")

    def _account(self, n):
        if n:
            self.bytes_read += n
            self._poll_expected()
            if self.expected_length is not None and self.bytes_read > self.expected_length:
                self.close()
                raise errors.KitIOError(f"reading {self.src}: more than the {self.expected_length} bytes "
                                        "its status reported (file changed while read)")
            return n
        self._done = True
        self._finish()
        if self.expected_length is not None and self.bytes_read != self.expected_length:
            raise errors.KitIOError(f"reading {self.src}: got {self.bytes_read} of {self.expected_length} "
                                    "bytes (short read; file changed or reader failed)")
        return 0


class LocalReader(_CheckedReader):
    def wait_length(self):
        return self.expected_length

    def __init__(self, src, expected_length=None):
        super().__init__(src, expected_length)
        path = local_path(src)
        try:
            self._f = open(path, "rb", buffering=0)
        except FileNotFoundError:
            raise errors.NoInputError(f"{src}: no such file or directory") from None
        except IsADirectoryError:
            raise errors.NoInputError(f"{src}: is a directory, not a file") from None
        except PermissionError:
            raise errors.PermissionDeniedError(f"{src}: permission denied") from None

    def _raw_readinto(self, b):
        try:
            return self._f.readinto(b)
        except OSError as e:
            raise errors.KitIOError(f"reading {self.src}: {e.strerror}") from None

    def _raw_send(self, fd, count):
        return os.sendfile(fd, self._f.fileno(), None, count)

    def fstat(self):
        """os.stat_result of the open descriptor: the file being read, whatever its name now means."""
        return os.fstat(self._f.fileno())

    def close(self):
        if not self.closed:
            self._f.close()
        super().close()


class _BackgroundStat:
    """`-stat` of one path in its own JVM while another JVM streams the data: the second
    launch costs no wall time."""

    def __init__(self, argv, path):
        self.path = path
        self._proc = _popen(argv, _stat_args([path]), capture=True)
        self._result = None
        self._thread = threading.Thread(target=self._wait, daemon=True)
        self._thread.start()

    def _wait(self):
        out, err = self._proc.communicate()
        try:
            self._result = _parse_stat_output([self.path], self._proc.returncode, out, err)[self.path]
        except errors.KitError as e:
            self._result = e
        except Exception as e:  # noqa: BLE001 - surfaces as the read's error, never a silent pass
            self._result = errors.KitIOError(f"{self.path}: cannot read hadoop fs -stat output: {e}")

    def done(self):
        return not self._thread.is_alive()

    def result(self):
        self._thread.join()
        return self._result

    def cancel(self):
        if self._proc.poll() is None:
            self._proc.kill()
        self._thread.join()


class _StderrKeeper:
    """Drains a child's stderr on a thread, so the JVM never stalls on a full pipe,
    keeping the first 64 KiB for the error message. A pipe, not a temporary file:
    the toolkit opens nothing for writing on local disk."""

    LIMIT = 65536

    def __init__(self, pipe):
        self._pipe = pipe
        self._buf = bytearray()
        self._thread = threading.Thread(target=self._drain, name="hadoop-stderr", daemon=True)
        self._thread.start()

    def _drain(self):
        try:
            while True:
                chunk = self._pipe.read(self.LIMIT)
                if not chunk:
                    return
                room = self.LIMIT - len(self._buf)
                if room > 0:
                    self._buf += chunk[:room]
        except (OSError, ValueError):
            pass  # closed under us: the reader is being torn down

    def text(self):
        self._thread.join(10)
        return bytes(self._buf).decode(errors="replace")

    def close(self):
        self._thread.join(10)
        self._pipe.close()


class HadoopReader(_CheckedReader):
    """`hadoop fs -cat SRC` as a readable stream whose failure cannot look like EOF.

    With stat_alongside, SRC's status is fetched in parallel and its length is the
    expected one (a missing path or a directory then raises NoInputError, 66)."""

    def __init__(self, src, expected_length=None, hadoop_cmd=None, stat_alongside=False):
        super().__init__(src, expected_length)
        argv = hadoop_argv(hadoop_cmd)
        self._bg = _BackgroundStat(argv, src) if stat_alongside else None
        try:
            self._proc = _popen(argv, ["-cat", glob_escape(src)], capture=True, bufsize=0)
        except errors.KitError:
            if self._bg is not None:
                self._bg.cancel()
            raise
        self._err = _StderrKeeper(self._proc.stderr)
        self.pid = self._proc.pid
        self._fd = self._proc.stdout.fileno()
        fastio.enlarge_pipe(self._fd)   # a bigger pipe only saves wake-ups

    def _raw_readinto(self, b):
        return os.readv(self._fd, [b])

    def _raw_send(self, fd, count):
        return os.splice(self._fd, fd, count)

    def _take_stat(self, st):
        self._bg = None
        if isinstance(st, errors.KitError):
            raise st
        if st.is_dir:
            raise errors.NoInputError(f"{self.src}: is a directory, not a file")
        self.stat, self.expected_length = st, st.length

    def wait_stat(self):
        """Block until the status fetched alongside is known (FileStat; raises its error). Until
        then nothing has been read from the `-cat`: its bytes wait in the pipe."""
        if self._bg is not None:
            self._take_stat(self._bg.result())
        return self.stat

    def _poll_expected(self):
        if self._bg is not None and self._bg.done():
            self._take_stat(self._bg.result())

    def wait_length(self):
        """The expected length, waiting for the status fetched alongside (to announce it)."""
        if self._bg is not None:
            self._take_stat(self._bg.result())
        return self.expected_length

    def _finish(self):
        rc = self._proc.wait()
        if self._bg is not None:
            st = self._bg.result()
            # A missing path explains a failed reader (66); otherwise the reader's own failure
            # (74) is what to report, even if the status call failed too.
            if rc == 0 or isinstance(st, errors.NoInputError) or (isinstance(st, FileStat) and st.is_dir):
                self._take_stat(st)
        if rc != 0:
            _raise_auth_failure(self._err.text())
            why = meaningful_line(self._err.text(), "cat")
            how = f"killed by signal {-rc}" if rc < 0 else f"exit {rc}"
            raise errors.KitIOError(f"reading {self.src}: hadoop fs -cat failed ({how})"
                                    + (f": {why}" if why else ""))

    def close(self):
        if not self.closed:
            if self._proc.poll() is None:
                self._proc.kill()  # closing before EOF: nobody will read the rest
            self._proc.stdout.close()
            self._proc.wait()
            self._err.close()
            if self._bg is not None:
                self._bg.cancel()
        super().close()


def open_checked(src, *, hadoop_cmd=None):
    """open_source whose expected length is SRC's status (`.stat` once known). For HDFS the
    `-stat` runs alongside the `-cat`, so checking costs no extra JVM start in wall time."""
    check_path(src)
    if is_local(src):
        st = stat_one(src)
        if st.is_dir:
            raise errors.NoInputError(f"{src}: is a directory, not a file")
        r = LocalReader(src, st.length)
        r.stat = st
        return r
    return HadoopReader(src, hadoop_cmd=hadoop_cmd, stat_alongside=True)


def open_source(src, *, expected_length=None, hadoop_cmd=None):
    """A reader (context manager; readinto/read) over SRC: `hadoop fs -cat` for HDFS-style
    paths, the local file for file://. At EOF a non-zero reader exit or a byte count other
    than expected_length raises KitIOError (74); closing early kills the reader."""
    check_path(src)
    if is_local(src):
        return LocalReader(src, expected_length)
    return HadoopReader(src, expected_length, hadoop_cmd)
