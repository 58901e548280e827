"""HDFS's own whole-file checksum as end-to-end proof of what was read.

`hadoop fs -Ddfs.checksum.combine.mode=COMPOSITE_CRC -checksum PATH...` prints
`PATH<TAB>COMPOSITE-CRC32C<TAB>8 hex digits` (HDFS-13056, Hadoop 3.1+): the
CRC32C of the whole file, big-endian, whatever its block size or layout, built
by the DataNodes from the checksums they store. `transfer` and the mapper ask
for it in the same batch as the status (one JVM per batch, run alongside the
`-stat`), compute the same CRC over the plaintext as they read it, and refuse to
complete the upload when the two differ (65, `checksum_mismatch`): a short,
corrupted or wrong read that the pipe cannot see is caught before anything is
stored. The value goes into the object's metadata (`h2s3-hdfs-crc`), so
`verify` can check a download against HDFS without reading the source again.

No proof is possible (and the record says why, `hdfs_checksum_status` =
`none: ...`) for file:// sources, filesystems without checksums (NONE), old
clusters that only give MD5-of-CRC values, and when turned off (config
`hdfs_checksum=off`). Files in an HDFS encryption zone checksum their stored
ciphertext, which never equals the plaintext's CRC: turn the proof off for them.
"""

import re
import subprocess
import threading
import zlib

from . import errors, hdfs

META_HDFS_CRC = "h2s3-hdfs-crc"         # x-amz-meta-h2s3-hdfs-crc: COMPOSITE-CRC32C:1a2b3c4d
COMBINE_MODE = "-Ddfs.checksum.combine.mode=COMPOSITE_CRC"
CONFIG_KEY = "hdfs_checksum"            # on (default) | off
_VALUE = re.compile(r"^[0-9a-f]{8}$")


def _crc32c():
    import crc32c

    return crc32c.crc32c


# COMPOSITE-<dfs.checksum.type>: CRC32C is HDFS's default; files written with CRC32 say so.
_ALGORITHMS = {"COMPOSITE-CRC32C": _crc32c, "COMPOSITE-CRC32": lambda: zlib.crc32}


class HdfsChecksum:
    # Plain classes, not dataclasses: `dataclasses` pulls in `inspect` (~15 ms of a filter's
    # start-up, issue 15). A checksum is a value: equal when algorithm and value are.
    __slots__ = ("algorithm", "value")

    def __init__(self, algorithm, value):
        self.algorithm = algorithm      # COMPOSITE-CRC32C or COMPOSITE-CRC32
        self.value = value              # 8 lower-case hex digits, big-endian

    def __eq__(self, other):
        if type(other) is not HdfsChecksum:
            return NotImplemented
        return (self.algorithm, self.value) == (other.algorithm, other.value)

    def __hash__(self):
        return hash((self.algorithm, self.value))

    def __repr__(self):
        return f"HdfsChecksum({self.algorithm!r}, {self.value!r})"

    def meta(self):
        return f"{self.algorithm}:{self.value}"

    def function(self):
        return _ALGORITHMS[self.algorithm]()


class NoChecksum:
    """Why there is nothing to compare with (not an error: the transfer goes on unproven)."""
    __slots__ = ("reason",)

    def __init__(self, reason):
        self.reason = reason

    def __repr__(self):
        return f"NoChecksum({self.reason!r})"


def parse_meta(text):
    """`COMPOSITE-CRC32C:1a2b3c4d` (object metadata) -> HdfsChecksum, else None."""
    alg, _, value = (text or "").partition(":")
    if alg in _ALGORITHMS and _VALUE.match(value):
        return HdfsChecksum(alg, value)
    return None


def _parse_value(alg, value):
    if alg in _ALGORITHMS and _VALUE.match(value.lower()):
        return HdfsChecksum(alg, value.lower())
    if alg == "NONE":
        return NoChecksum("none: the filesystem keeps no checksum for it")
    return NoChecksum(f"none: HDFS gave {alg or 'no'} checksum, not a COMPOSITE-CRC (Hadoop before 3.1?)")


def _parse_output(paths, stdout, stderr):
    """{path: HdfsChecksum | NoChecksum} from one `-checksum` run. Lines name their path; a path
    that failed has only a `checksum: ...` line on stderr."""
    by_name = {}
    for line in stdout.decode(errors="surrogateescape").split("\n"):
        parts = line.rsplit("\t", 2)
        if len(parts) == 3:
            by_name[parts[0]] = _parse_value(parts[1], parts[2])
        elif len(parts) == 2:              # `PATH<TAB>NONE`
            by_name[parts[0]] = _parse_value(parts[1], "")
    errs = [ln.strip() for ln in stderr.decode(errors="replace").splitlines() if ln.startswith("checksum: ")]
    out = {}
    for p in paths:
        got = by_name.get(p) or by_name.get(hdfs.glob_escape(p))
        if got is None:
            why = next((e for e in errs if f"`{hdfs.glob_escape(p)}'" in e or f"`{p}'" in e), None)
            got = NoChecksum(f"none: {why or 'hadoop fs -checksum gave no value'}")
        out[p] = got
    return out


class Prefetch:
    """`-checksum` for a batch of sources in its own JVM(s), started now and collected by
    result(), so it runs alongside the batch's `-stat`. Never raises for a path: what cannot be
    had is a NoChecksum; cancel() kills what still runs (interrupted run)."""

    def __init__(self, srcs, hadoop_cmd=None):
        self._srcs = list(dict.fromkeys(srcs))
        self._result = {p: NoChecksum("none: file:// source: no HDFS checksum")
                        for p in self._srcs if hdfs.is_local(p)}
        self._remote = [p for p in self._srcs if not hdfs.is_local(p)]
        self._proc = None
        self._cancelled = False
        self._hadoop_cmd = hadoop_cmd
        self._thread = threading.Thread(target=self._run, name="hdfs-checksum", daemon=True)
        self._thread.start()

    def _run(self):
        if not self._remote:      # file:// only: nothing to launch (and no argv to size batches by)
            return
        try:
            argv = hdfs.hadoop_argv(self._hadoop_cmd)
        except errors.KitError as e:
            self._result.update({p: NoChecksum(f"none: {e.message}") for p in self._remote})
            return
        for batch in hdfs.batches(self._remote, argv):     # sized for the real ARG_MAX, as -stat's
            if self._cancelled:
                return
            try:
                self._proc = hdfs.popen_fs(argv, [COMBINE_MODE, "-checksum", *map(hdfs.glob_escape, batch)],
                                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                out, err = self._proc.communicate()
                self._result.update(_parse_output(batch, out, err))
            except Exception as e:  # noqa: BLE001 - no proof is a recorded fact, never a crash
                self._result.update({p: NoChecksum(f"none: hadoop fs -checksum: {e}") for p in batch})

    def result(self):
        try:
            self._thread.join()
        except BaseException:
            self.cancel()
            raise
        return {p: self._result.get(p, NoChecksum("none: not fetched")) for p in self._srcs}

    def cancel(self):
        self._cancelled = True
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()


def enabled(config):
    """The config's `hdfs_checksum` (on unless `off`)."""
    value = (config.get(CONFIG_KEY) if config is not None and getattr(config, "prefix", None) else None) or "on"
    if value not in ("on", "off"):
        raise errors.ConfigError(f"config {config.where(CONFIG_KEY)}: {value!r} is not on or off")
    return value == "on"


class CrcReader:
    """Passes a source through, computing the CRC HDFS named; at EOF (after the source's own
    length and exit checks) a different value raises DataError (65, checksum_mismatch), so the
    encryptor never writes its final frame and the upload aborts."""

    def __init__(self, inner, expected, src, record=None):
        from . import fastio

        self.record = record if record is not None else {}
        self._readinto = fastio.reader_of(inner)
        self._fn = expected.function()
        self.expected = expected
        self.src = src
        self.crc = 0
        self.checked = False

    def readinto(self, mv):
        n = self._readinto(mv)
        if n:
            self.crc = self._fn(mv[:n], self.crc)
            return n
        if not self.checked:
            got = f"{self.crc & 0xFFFFFFFF:08x}"
            self.record["hdfs_checksum_status"] = "match" if got == self.expected.value else "mismatch"
            if got != self.expected.value:
                raise errors.DataError(
                    f"{self.src}: what was read does not match HDFS's checksum "
                    f"({self.expected.algorithm} {self.expected.value}, read {got}); nothing stored",
                    status="checksum_mismatch")
            self.checked = True
        return 0

    def read(self, n=-1):
        from . import fastio

        return fastio.read_via(self.readinto, n)


def checking(source, expected, src, record=None):
    """source wrapped in a CrcReader when HDFS gave a value (it sets record's
    hdfs_checksum_status at EOF), else source itself."""
    return CrcReader(source, expected, src, record) if isinstance(expected, HdfsChecksum) else source


def record_fields(expected, outcome="match"):
    """Status record fields: `hdfs_checksum` (ALG:hex or null), `hdfs_checksum_status`
    (match, mismatch, or `none: why`)."""
    if isinstance(expected, HdfsChecksum):
        return {"hdfs_checksum": expected.meta(), "hdfs_checksum_status": outcome}
    if isinstance(expected, NoChecksum):
        return {"hdfs_checksum": None, "hdfs_checksum_status": expected.reason}
    return {"hdfs_checksum": None, "hdfs_checksum_status": "none: not asked (hdfs_checksum=off)"}


class CrcSink:
    """A write-only destination that keeps nothing but the CRC (for verify)."""

    def __init__(self, expected):
        self.expected = expected
        self._fn = expected.function()
        self.crc = 0

    def write(self, b):
        self.crc = self._fn(b, self.crc)
        return len(b)

    def problem(self):
        got = f"{self.crc & 0xFFFFFFFF:08x}"
        if got != self.expected.value:
            return (f"decrypted content's {self.expected.algorithm.split('-', 1)[1]} {got} differs from "
                    f"HDFS's {self.expected.meta()} in the metadata")
        return None
