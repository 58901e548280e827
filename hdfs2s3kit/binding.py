"""The decision binds the bytes: what is stored under an authorized name is the file authorized.

- `file://`: the file is opened once and the decision is made on the open
  descriptor's `fstat` (a name swapped for a symlink, or `chgrp`'d, before the
  open is decided as what it now is). At EOF the descriptor is `fstat`ed again:
  a change of owner, group, mode, length or mtime while reading fails the read.
- HDFS: the decision is made on a `-stat` (the batch's, or one run alongside the
  `-cat`, whose output is not read until the decision is known). After the read,
  and before anything is completed in S3, a fresh `-stat` must show the same
  owner, group, mode, length and mtime, and the file must still be allowed
  (`Recheck.verdict`). Where that re-check runs depends on who completes:
  - `open_authorized(...)` (the default, `recheck_later=False`): at EOF, before the
    reader reports it, one `-stat` for this file. A failed check raises from the
    read, so the encryptor never writes its final frame and the uploader aborts.
    This is what `hdfs2s3kit cat` (and so bin/hdfs2s3-pipe, a separate process
    with no later gate) and `verify --against` use.
  - `recheck_later=True`: EOF passes unchecked and `reader.later` (a Recheck) is
    handed to the caller, which must not complete anything before
    `recheck_many([...])` gave None for it. `transfer` and the mapper do that
    through `groupcommit`: a file read and uploaded waits, not yet completed (its
    parts acknowledged, or a small file's single body held), until one `-stat`
    batch re-checks every file waiting, so N files cost a few JVMs, not N.

Denied (by the re-decision): 77; changed after the decision: 65; the file gone or
unreadable when re-checked: that error's own code. Residual window (docs/SECURITY.md):
HDFS's `-stat` shows no inode number, so a file renamed away and back between the
decision and the re-check, with its metadata unchanged, is not seen.
"""

import stat as statmod

from . import authz, errors, fastio, hdfs


_STATUS = {errors.NOPERM: "denied", errors.NOINPUT: "no_input", errors.IOERR: "io_error",
           errors.UNAVAILABLE: "unavailable", errors.USAGE: "usage", errors.NOUSER: "unknown_user",
           errors.CONFIG: "config_error", errors.TEMPFAIL: "temporary_failure", errors.DATAERR: "bad_data"}


def refusal(d, src):
    """The KitError for a decision that did not allow (denied, or the status was unreadable)."""
    code = d.code or errors.NOPERM
    reason = d.reason if d.reason.startswith(src) else f"{src}: {d.reason}"
    err = errors.KitError(reason, code=code, status=_STATUS.get(code, "failed"))
    err.decision = d
    return err


def _same(a, b):
    fields = ("owner", "group", "mode", "length", "mtime", "is_dir", "uid", "gid")
    return [f for f in fields if getattr(a, f) != getattr(b, f)]


class Recheck:
    """The after-read check of one HDFS source against what was decided on."""

    __slots__ = ("src", "stat", "identity", "policy")

    def __init__(self, src, stat, identity, policy):
        self.src, self.stat, self.identity, self.policy = src, stat, identity, policy

    def verdict(self, now):
        """`now`: the source's FileStat (or KitError) after the read -> None when it may be
        completed, else the KitError that says why not (77 denied, 65 changed, ...)."""
        src = self.src
        if isinstance(now, errors.KitBase):
            return errors.KitError(f"{now.message} (re-checked after reading); not stored", code=now.code,
                                   status=now.status)
        ok, reason = authz.decide(now, self.identity, self.policy)
        if not ok:
            return errors.PermissionDeniedError(f"{src}: denied when re-checked after reading ({reason}); "
                                                "not stored", status="denied")
        changed = _same(self.stat, now)
        if changed:
            return errors.DataError(f"{src}: changed while being read ({', '.join(changed)}); not stored",
                                    status="changed")
        return None


def recheck_many(checks, hadoop_cmd=None, *, cancel=None):
    """[None | KitError] for each Recheck, from one `hadoop fs -stat` batch for all of them
    (hdfs.stat_many: sized for the command line, a path Hadoop refuses fails alone). A broken
    Hadoop client raises (69): the caller completes nothing. `cancel`: an hdfs.Cancel."""
    now = hdfs.stat_many([c.src for c in checks], hadoop_cmd, cancel=cancel)
    return [c.verdict(now[c.src]) for c in checks]


class BoundReader:
    """A source reader (readinto/read/send_to, context manager) whose EOF is only reported after
    the re-check passed. `.stat` is the status decided on; `.decision` the Decision.
    `.later`: the Recheck its caller must run before completing (recheck_later), else None."""

    def __init__(self, inner, decision, recheck, later=None):
        self._inner = inner
        self.decision = decision
        self.stat = decision.stat
        self.src = decision.path
        self._recheck = recheck
        self._checked = False
        self.later = later

    @property
    def bytes_read(self):
        return self._inner.bytes_read

    def _eof(self):
        if not self._checked:
            self._checked = True
            if self._recheck is not None:
                self._recheck()
        return 0

    def readinto(self, b):
        n = self._inner.readinto(b)
        return n if n else self._eof()

    def read(self, n=-1):
        return fastio.read_via(self.readinto, n)

    def send_to(self, fd, count=1 << 20):
        n = self._inner.send_to(fd, count)
        if n is None:
            return None
        return n if n else self._eof()

    def readable(self):
        return True

    def close(self):
        self._inner.close()

    @property
    def closed(self):
        return self._inner.closed

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _local(src, identity, policy):
    r = hdfs.LocalReader(src)
    try:
        fst = r.fstat()
        if not statmod.S_ISREG(fst.st_mode):
            raise errors.NoInputError(f"{src}: not a regular file")
        st = hdfs.local_filestat(src, fst)
        ok, reason = authz.decide(st, identity, policy)
        d = authz.Decision(src, ok, reason, st, errors.OK if ok else errors.NOPERM, identity=identity,
                           policy=authz.as_policy(policy), allowed_groups=authz.as_policy(policy).allowed_groups)
        if not ok:
            raise refusal(d, src)
        r.expected_length = st.length
    except BaseException:
        r.close()
        raise

    def recheck():
        now = hdfs.local_filestat(src, r.fstat())
        changed = _same(st, now)
        if changed:
            raise errors.DataError(f"{src}: changed while being read ({', '.join(changed)}); not stored",
                                   status="changed")

    return BoundReader(r, d, recheck)


def _remote(src, identity, policy, decision, hadoop_cmd, later):
    if decision is None:
        # Decide on a -stat run alongside the -cat; nothing is read before the answer.
        r = hdfs.HadoopReader(src, hadoop_cmd=hadoop_cmd, stat_alongside=True)
        try:
            st = r.wait_stat()
        except BaseException:
            r.close()
            raise
        ok, reason = authz.decide(st, identity, policy)
        pol = authz.as_policy(policy)
        decision = authz.Decision(src, ok, reason, st, errors.OK if ok else errors.NOPERM, identity=identity,
                                  policy=pol, allowed_groups=pol.allowed_groups)
        if not ok:
            r.close()
            raise refusal(decision, src)
    else:
        if not decision.allowed:
            raise refusal(decision, src)
        st = decision.stat
        if st is None or st.is_dir:
            raise errors.NoInputError(f"{src}: not a regular file")
        r = hdfs.open_source(src, expected_length=st.length, hadoop_cmd=hadoop_cmd)

    check = Recheck(src, st, identity, policy)
    if later:
        return BoundReader(r, decision, None, later=check)

    def recheck():
        try:
            now = hdfs.stat_one(src, hadoop_cmd)
        except errors.KitError as e:
            now = e
        err = check.verdict(now)
        if err is not None:
            raise err

    return BoundReader(r, decision, recheck)


def open_authorized(src, identity, policy, *, decision=None, hadoop_cmd=None, recheck_later=False):
    """A reader over SRC bound to an allow decision under POLICY for IDENTITY.

    `decision` (from a batch `authz.check_paths`) is used for HDFS paths, so a batch costs
    one `-stat` up front; `file://` paths are always decided on the open descriptor.
    Denied: KitError 77 (`.decision` attached), raised before any byte is read.
    `recheck_later`: an HDFS source is not re-checked at EOF; the caller takes `.later` and
    completes nothing before `recheck_many` passed it (module docstring)."""
    hdfs.check_path(src)
    if hdfs.is_local(src):
        return _local(src, identity, policy)
    return _remote(src, identity, policy, decision, hadoop_cmd, recheck_later)
