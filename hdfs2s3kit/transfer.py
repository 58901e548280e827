"""One-shot transfer: authz -> read -> encrypt -> gated upload -> checksum -> metrics/notify.

Everything runs in one process from the same library code as the filters, so
`transfer` with many files and the Hadoop Streaming mapper pay the set-up
(config, STS credentials, AWS clients, keyring, identity) once. `Transfer.one`
never raises for a per-file failure: it returns the file's status record.

Destination mapping (docs in README): without an explicit DEST an object goes
to s3://BUCKET/PREFIX/<source path>, where <source path> is the path part of
the source URL without its leading '/' (the cluster authority is dropped):
`hdfs://nn:8020/data/q3.csv` and `/data/q3.csv` both map to PREFIX/data/q3.csv.
An explicit DEST ending in '/' (or a bare bucket) gets the source's base name.

HDFS sources are re-checked after the read and before completion (binding) in
batches: `start()` reads, encrypts and sends a file, then leaves its completion
to the run's GroupCommit (groupcommit: one `-stat` for many files) and returns;
its record is final once the slot is `done`. `ordered()` (transfer, the mapper)
yields records in input order; `one()` is start() + flush().

Object metadata carries the source fingerprint (path, length, mtime), the key
ID, the stream ID and the format version. A later run that finds the same
fingerprint at DEST reports `skipped`; that is what makes mapper retries and
speculative attempts idempotent.
"""

import contextlib
import re
import socket
import threading
import urllib.parse

from . import errors, framing, identity, status
from . import progress as progress_mod

TOOL = "transfer"

from .objmeta import META_FORMAT, META_KEY_ID, META_LENGTH, META_MTIME, META_SRC, META_STREAM_ID  # noqa: F401
FINGERPRINT = (META_SRC, META_LENGTH, META_MTIME)
# scheme:[//authority]path; '?' and '#' belong to the path (HDFS names may hold them)
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:(//[^/]*)?(.*)$", re.S)


# ---------------------------------------------------------------- naming

def check_src(src):
    src = str(src)
    if not src or src.startswith("-"):
        raise errors.UsageError(f"refusing source {src!r}: empty, or could be read as an option")
    if "\n" in src or "\0" in src:
        raise errors.UsageError("refusing a source path containing a newline or NUL")
    return src


def source_path(src):
    """The path part of a source (hdfs://, viewfs://, file:// or a bare path), taken
    literally as the readers take it (no percent-decoding)."""
    m = _URL.match(src)
    return m.group(2) if m else src


def dest_for(src, dest=None, *, bucket=None, prefix=""):
    """-> (bucket, key) for a source, per the mapping in the module docstring."""
    path = source_path(src)
    if dest:
        from .aws import parse_s3_url

        b, key = parse_s3_url(dest, need_key=False)   # an empty key or one ending in '/' is a folder
        if not key or key.endswith("/"):
            base = path.rstrip("/").rsplit("/", 1)[-1]
            if not base:
                raise errors.UsageError(f"cannot name an object after source {src!r}")
            key += base
        return b, key
    if not bucket:
        raise errors.ConfigError("no destination: give DEST or set `bucket` in the config")
    rel = path.lstrip("/")
    if not rel:
        raise errors.UsageError(f"cannot name an object after source {src!r}")
    prefix = (prefix or "").strip("/")
    return bucket, f"{prefix}/{rel}" if prefix else rel


def fingerprint(src, stat):
    """The metadata that says which version of which source an object holds."""
    return {
        META_SRC: urllib.parse.quote(str(src), safe="/:@+,=~"),
        META_LENGTH: str(int(stat.length)),
        META_MTIME: str(stat.mtime),
    }


def same_fingerprint(meta, fp):
    return all((meta or {}).get(k) == fp[k] for k in FINGERPRINT)


def summarize(records):
    """Counts and bytes over a batch of status records (for the end-of-run line)."""
    out = {"files": 0, "ok": 0, "skipped": 0, "failed": 0, "bytes": 0, "src_bytes": 0, "by_status": {}}
    for r in records:
        out["files"] += 1
        st = r.get("status")
        out["by_status"][st] = out["by_status"].get(st, 0) + 1
        if st in ("ok", "skipped"):
            out[st] += 1
        elif st in status.DRY_RUN_STATUSES:
            pass   # counted in by_status only: a dry run's answers are neither done nor failed
        else:
            out["failed"] += 1
        if st == "ok":
            out["bytes"] += r.get("bytes") or 0
            out["src_bytes"] += r.get("src_bytes") or 0
    return out


def exit_code(records):
    """0 when every file is ok or skipped, else the first failure's code."""
    for r in records:
        if status.is_failure(r):
            return r.get("exit_code") or 1
    return 0


# ---------------------------------------------------------------- shared set-up

class Setup:
    """Config, sessions, clients, keyring and identity, each built once on first use.

    Shared by transfer and verify (and the mapper through Transfer). A set-up
    step that fails for good (no config, role not assumable, unknown user) is
    remembered, so a batch of 1,000 files reports it 1,000 times without
    asking AWS 1,000 times; temporary failures are tried again."""

    _LASTING = (errors.CONFIG, errors.NOPERM, errors.NOUSER, errors.USAGE, errors.NOINPUT)

    def __init__(self, config=None, *, config_prefix=None, key_file=None, role_arn=None,
                 assume_role=True, session=None, region=None, hadoop_cmd=None, concurrency=None, lean=None):
        self.config_prefix = config_prefix
        # a program name: the lean AWS path (no botocore, sts.lean_base) whenever it does what
        # botocore would; None keeps botocore (library callers, verify, report)
        self.lean = lean if session is None else None
        self.key_file = key_file
        self._role_arn = role_arn
        self.assume_role = assume_role
        self._region = region
        self.hadoop_cmd = hadoop_cmd
        self.concurrency = concurrency
        self.jobs = 1              # files in flight at once (batchrun): sizes the S3 connection pool
        self.session_name = None
        # [(bucket, key_or_prefix, is_prefix)]: where this run writes; set before the first S3
        # call, it becomes the STS session policy (least privilege; sts.session_policy)
        self.scope = None
        self._built = {"config": config, "base_session": session}

    def _once(self, name, build):
        value = self._built.get(name)
        if isinstance(value, errors.KitError):
            raise value
        if value is None:
            try:
                value = build()
            except errors.KitError as e:
                if e.code in self._LASTING:
                    self._built[name] = e
                raise
            self._built[name] = value
        return value

    @property
    def config(self):
        from . import config as config_mod

        return self._once("config", lambda: config_mod.load_config(
            self.config_prefix, session=self._built.get("base_session") or self._config_session()))

    def _config_session(self):
        """The session the config is read with before the config's region is known: lean when
        allowed and it applies (SSM in the environment's region, as botocore's would be), else
        None (config's own botocore session)."""
        if not self.lean:
            return None
        if "config_session" not in self._built:
            from . import sts

            self._built["config_session"] = sts.lean_base(None, None, self.lean)
        return self._built["config_session"]

    @property
    def region(self):
        return self._region or self.config.get("region")

    @property
    def role_arn(self):
        return self._role_arn or self.config.get("role_arn")

    @property
    def base_session(self):
        from . import aws

        def build():
            if self.lean:
                from . import sts

                lean = sts.lean_in_region(self._config_session(), self.region, None, self.lean)
                if lean is not None:
                    return lean
            return aws.base_session(region=self.region)

        return self._once("base_session", build)

    @property
    def session_started(self):
        return self._built.get("session") is not None

    @property
    def session(self):
        """The session S3 calls use: the config's role through STS, unless told not to."""
        return self._once("session", self._assume)

    def _s3_base(self):
        """base_session, unless it is lean and the run's scope holds a bucket the lean S3 client
        does not take (access point, directory bucket): then botocore's, said at -v."""
        base = self.base_session
        if getattr(base, "lean", False) and self.scope:
            from . import aws, leanaws, verbosity

            p = leanaws.plan(region=self.region, buckets=sorted({b for b, _k, _p in self.scope}))
            if not p.lean:
                verbosity.detail(self.lean, f"AWS client: botocore ({p.reason})")
                self._built["base_session"] = base = aws.base_session(region=self.region)
        return base

    def _assume(self):
        if not self.assume_role:
            return self._s3_base()
        role = self.role_arn
        if not role:
            raise errors.ConfigError(
                "no role to assume: set `role_arn` in the config, pass --role-arn, "
                "or --no-assume-role on a host already running in the target role")
        if not str(role).startswith("arn:"):
            where = "--role-arn" if self._role_arn else f"config {self.config.where('role_arn')}"
            raise errors.ConfigError(f"{where}: not a role ARN: {role!r}")
        from . import sts

        self.session_name = sts.session_name()
        base = self._s3_base()
        if getattr(base, "lean", False):
            policy = sts.session_policy(self.scope, self.region or base.region_name) if self.scope else None
            return sts.lean_assumed_session(role, base, session_name=self.session_name, policy=policy,
                                            external_id=self.config.get("role_external_id"))
        kw = {"base": base, "session_name": self.session_name, "region": self.region}
        if self.config.get("role_external_id"):
            kw["external_id"] = self.config.get("role_external_id")
        if self.scope:
            kw["policy"] = sts.session_policy(self.scope, self.region or base.region_name)
        return sts.assumed_session(role, **kw)

    @property
    def commit_workers(self):
        """Threads that complete re-checked uploads (groupcommit): as many as files in flight."""
        return min(8, max(2, self.jobs))

    @property
    def s3(self):
        from . import aws

        def build():
            conc = self.concurrency or self.config.int("concurrency") or 8
            # every file's parts, plus the group commit's completions (commit_workers)
            return aws.s3_client(self.session, concurrency=conc * max(1, self.jobs) + self.commit_workers,
                                 region=self.region)

        return self._once("s3", build)

    @property
    def keyring(self):
        from . import keyring

        def build():
            if self.key_file:
                return keyring.load_keyring(key_file=self.key_file)
            cfg = self.config if self.config.prefix else None
            return keyring.load_keyring(config=cfg, session=self.base_session)

        return self._once("keyring", build)

    @property
    def identity(self):
        return self._once("identity", identity.lookup)


class _HeaderPeek:
    """Serves a ciphertext stream unchanged after reading just enough of it to
    parse the header, so the stream ID can go into the object's metadata."""

    def __init__(self, inner):
        from . import fastio

        self._readinto = fastio.reader_of(inner)
        buf = bytearray()
        chunk = bytearray(64 * 1024)
        while True:
            n = self._readinto(memoryview(chunk))
            if not n:
                raise errors.DataError("encryptor produced no stream header")
            buf += chunk[:n]
            hdr, _used = framing.parse_header(buf)
            if hdr is not None:
                break
        self.header = hdr
        self._pending = memoryview(bytes(buf))

    def readinto(self, mv):
        if self._pending:
            n = min(len(mv), len(self._pending))
            mv[:n] = self._pending[:n]
            self._pending = self._pending[n:]
            return n
        return self._readinto(mv)

    def read(self, n=-1):
        from . import fastio

        return fastio.read_via(self.readinto, n)


# ---------------------------------------------------------------- the transfer

class Transfer:
    """authz -> read -> encrypt -> gated upload -> checksum -> metrics/notify, per file.

    Use as a context manager (or call `finish()`) so metrics are flushed and
    the notification summary is sent once at the end."""

    def __init__(self, config=None, *, config_prefix=None, key_file=None, role_arn=None,
                 assume_role=True, session=None, region=None, hadoop_cmd=None,
                 policy=None, allowed_groups=None, frame_size=None, threads=None,
                 part_size=None, concurrency=None, checksum_algorithm=None,
                 metrics=True, notify=None, tool=TOOL, progress=False, setup=None,
                 dry_run=False, bwlimit=None, object_options=None, lean=None):
        self.setup = setup or Setup(config, config_prefix=config_prefix, key_file=key_file,
                                    role_arn=role_arn, assume_role=assume_role, session=session,
                                    region=region, hadoop_cmd=hadoop_cmd, concurrency=concurrency, lean=lean)
        self._policy = policy
        self._allowed_groups = allowed_groups
        self.frame_size = frame_size or framing.DEFAULT_FRAME_SIZE
        self.threads = threads
        self._part_size = part_size
        self._concurrency = concurrency
        self.checksum_algorithm = checksum_algorithm
        self.want_metrics = metrics
        self.notify_mode = notify          # None: the config's notify_on; "none": off
        self.tool = tool
        self.progress = progress           # False, True (a line per file) or a progress.Batch
        self.dry_run = dry_run             # authz + fingerprint check only: would_send / would_skip
        self.bwlimit = bwlimit             # a bwlimit.Limiter shared by every file and part
        self.object_options = object_options   # objectopts.ObjectOptions: class, tags, metadata, SSE
        self._lock = threading.Lock()      # records and monitoring sinks, under `transfer -j N`
        self._decisions = {}
        self._checksums = {}   # src -> hdfscrc.HdfsChecksum | NoChecksum (absent: proof turned off)
        self._metrics = self._notifier = None
        self._monitoring_ready = False
        self._commits = None   # groupcommit.GroupCommit, made with the first file (its threads start on the first deferred completion)
        self.records = []
        self.user = None
        self.host = socket.gethostname()

    # -- configuration resolved lazily (the config may come from SSM)
    @property
    def config(self):
        return self.setup.config

    @property
    def policy(self):
        """The sitepolicy.Policy in force: site files, the config, and this run's tightening."""
        from . import sitepolicy

        return sitepolicy.effective(config=self.config if self.config.prefix else None,
                                    flag_policy=self._policy, allowed_groups=self._allowed_groups)

    @property
    def allowed_groups(self):
        return self.policy.allowed_groups

    @property
    def part_size(self):
        return self._part_size or self.config.int("part_size")

    @property
    def concurrency(self):
        return self._concurrency or self.config.int("concurrency")

    def dest_for(self, src, dest=None):
        if not dest and self.config.prefix is None:
            from . import config as config_mod

            raise errors.ConfigError(config_mod.no_config_error().message + ", or give an s3:// DEST")
        return dest_for(src, dest, bucket=self.config.get("bucket"), prefix=self.config.get("prefix", ""))

    # -- authz, batched
    def authorize(self, srcs):
        """Decide for every source not decided yet in one batch (one JVM for HDFS paths)."""
        from . import authz

        todo = [s for s in dict.fromkeys(srcs) if s not in self._decisions]
        if todo:
            crcs = None
            try:
                crcs = self._checksum_prefetch(todo)   # HDFS's checksums, alongside the -stat batch
                decisions = authz.check_paths(todo, self.setup.identity, policy=self.policy,
                                              hadoop_cmd=self.setup.hadoop_cmd)
            except errors.Interrupted:
                if crcs is not None:
                    crcs.cancel()
                raise
            except errors.KitError as e:
                # The batch as a whole failed (no Hadoop client, no config): that is every
                # file's answer, not a reason to ask again one JVM per file.
                decisions = [authz.Decision(s, False, e.message, None, e.code) for s in todo]
            except BaseException:
                if crcs is not None:
                    crcs.cancel()
                raise
            if crcs is not None:
                self._checksums.update(crcs.result())
            for s, d in zip(todo, decisions):
                self._decisions[s] = d
        return {s: self._decisions[s] for s in srcs if s in self._decisions}

    prepare = authorize   # the mapper's name for "authorize this batch"

    def _checksum_prefetch(self, srcs):
        from . import hdfscrc

        if not hdfscrc.enabled(self.config if self.config.prefix else None):
            return None
        return hdfscrc.Prefetch(srcs, self.setup.hadoop_cmd)

    # -- monitoring: never fatal
    def _monitoring(self):
        if self._monitoring_ready:
            return
        self._monitoring_ready = True
        try:
            cfg = self.config
            session = self.setup.base_session
        except errors.KitError:
            return
        if not cfg.prefix:
            return   # no config (key file, explicit DEST): nothing says where to report
        if self.want_metrics:
            from . import metrics

            dims = {"Pipeline": cfg.value("pipeline")}
            try:
                self._metrics = metrics.Metrics(session, cfg.value("cloudwatch_namespace"), dims, prog=self.tool)
            except errors.KitError as e:
                _warn(f"metrics disabled: {e.message}")
        mode = self.notify_mode or cfg.get("notify_on") or "default"
        topic = cfg.get("sns_topic_arn")
        if mode != "none" and topic:
            from . import notifications

            try:
                self._notifier = notifications.Notifier(session, topic, mode, prog=self.tool,
                                                        pipeline=cfg.value("pipeline"))
            except errors.KitError as e:
                _warn(f"notifications disabled: {e.message}")

    def _report(self, rec):
        with self._lock:
            self.records.append(rec)
            self._monitoring()
            for sink in (self._metrics, self._notifier):
                if sink is not None:
                    try:
                        sink.add(rec)
                    except Exception as e:  # noqa: BLE001 - monitoring must never fail a transfer
                        _warn(f"monitoring: {type(e).__name__}: {e}")
        return rec

    def finish(self):
        """Flush metrics and send the notification summary; never raises. Completions still
        waiting for their re-check (a caller that did not flush) are aborted, never completed."""
        if self._commits is not None:
            self._commits.close()
        self._monitoring()
        if self._metrics is not None:
            try:
                self._metrics.flush()
            except Exception as e:  # noqa: BLE001
                _warn(f"metrics: {type(e).__name__}: {e}")
        if self._notifier is not None:
            try:
                self._notifier.finish()
            except Exception as e:  # noqa: BLE001
                _warn(f"notify: {type(e).__name__}: {e}")
        return summarize(self.records)

    def __enter__(self):
        return self

    def __exit__(self, etype, exc, tb):
        if exc is not None:
            self.abort_pending(exc if isinstance(exc, errors.KitBase)
                               else errors.KitError(f"run stopped: {type(exc).__name__}"))
        self.finish()
        return False

    # -- completions waiting for their re-check (groupcommit)
    @property
    def commits(self):
        if self._commits is None:
            from . import groupcommit

            with self._lock:
                if self._commits is None:
                    self._commits = groupcommit.GroupCommit(self.setup.hadoop_cmd,
                                                            workers=self.setup.commit_workers)
        return self._commits

    def flush(self):
        """Re-check and complete (or abort) every file waiting; their records are final after."""
        if self._commits is not None:
            self._commits.flush()

    def abort_pending(self, err):
        """A stop: abort every file waiting for its re-check (records say `err`), no upload left
        open. Later files that reach the gate are failed at once."""
        if self._commits is not None:
            self._commits.abort_all(err)

    # -- files
    def many(self, items, force=False):
        """Transfer (src) or (src, dest) items in sequence, authz batched; -> [record]."""
        return list(self.iter_many(items, force=force))

    def iter_many(self, items, force=False):
        """Like many(), yielding each record as soon as it is final (to stream them out)."""
        pairs = [(i, None) if isinstance(i, str) else (i[0], i[1] if len(i) > 1 else None) for i in items]
        good = []
        for src, _d in pairs:
            try:
                good.append(check_src(src))
            except errors.KitError:
                pass
        self.scope_for(pairs)
        if good:
            try:
                self.authorize(good)
            except errors.Interrupted:
                raise
            except errors.KitError:
                pass   # each file's own check reports it
        yield from self.ordered(pairs, force=force)

    def ordered(self, pairs, force=False, on_record=None):
        """start() each (src, dest) in turn; yield every record in input order once final (a
        file waiting for its batched re-check holds back the ones after it); flush at the end.
        On a stop every waiting file is aborted; the Interrupted carries the record of the file
        it stopped (`.record`), and every record is in `self.records`."""
        import collections

        slots = collections.deque()
        try:
            for src, dest in pairs:
                slots.append(self.start(src, dest, force=force))
                while slots and slots[0].done:
                    yield slots.popleft().record
            self.flush()
            while slots:
                yield slots.popleft().record
        except errors.Interrupted as e:
            self.abort_pending(e)
            raise

    def scope_for(self, pairs):
        """The run's destinations, for the session policy, while no session exists yet."""
        from . import paths

        if self.setup.scope is not None or self.setup.session_started:
            return
        scope = set()
        for src, dest in pairs:
            try:
                scope.add((*self.dest_for(paths.absolute(check_src(src)), dest), False))
            except errors.KitError:
                pass   # the file's own record says why it has no destination
        self.setup.scope = sorted(scope) or None

    def one(self, src, dest=None, force=False):
        """One file; -> its finished status record. Per-file failures are
        recorded, never raised; an interruption (SIGINT/SIGTERM) is raised
        with the finished record attached as `.record`. (start() + flush(): its
        re-check is a batch of its own, plus whatever else was waiting.)"""
        slot = self.start(src, dest, force=force)
        if not slot.done:
            try:
                self.flush()
            except errors.Interrupted as e:
                self.abort_pending(e)
                e.record = slot.record
                raise
        return slot.record

    def start(self, src, dest=None, force=False):
        """One file up to its completion -> a Slot whose `.record` is final once `.done`: at
        once for most outcomes; an HDFS file read and sent waits for its batched re-check
        (flush() waits for all). Per-file failures are recorded, never raised; an
        interruption is raised with the file's finished record as `.record`."""
        if self.user is None:
            try:
                self.user = self.setup.identity.name
            except errors.KitError:
                self.user = identity.audit_name()
        rec = status.new_record(self.tool, src=str(src), user=self.user, host=self.host,
                                src_bytes=None, src_mtime=None, stream_id=None, hdfs_checksum=None,
                                hdfs_checksum_status=None)
        slot = Slot(rec)
        waiting = None
        try:
            waiting = self._one(rec, src, dest, force)
        except errors.Interrupted as e:
            _finish_failed(rec, e)
            e.record = rec
            self._report(rec)
            slot.set()
            raise
        except errors.KitError as e:
            _finish_failed(rec, e)
        except Exception as e:  # noqa: BLE001 - one broken file must not end the batch
            _finish_failed(rec, errors.KitError(f"{type(e).__name__}: {e}"))
        if waiting is None:
            self._report(rec)
            slot.set()
            return slot

        def done():
            self._report(rec)
            slot.set()

        waiting.done = done
        try:
            self.commits.submit(waiting)
        except errors.Interrupted as e:       # a signal while waiting for room
            waiting.fail(e)
            done()
            e.record = rec
            raise
        return slot

    def _one(self, rec, src, dest, force):
        """-> None (rec is final) or the _Waiting completion of an upload held for its re-check."""
        with self.commits.producing(), contextlib.ExitStack() as stack:
            return self._one_bound(rec, src, dest, force, stack)

    def _one_bound(self, rec, src, dest, force, stack):
        from . import binding, hdfs, hdfscrc, paths, s3put, streamfmt

        src = check_src(src)
        path = paths.absolute(src)   # relative: resolved as the Hadoop client would, then decided
        if path != src:
            rec.update(src=path, given=src)
        bucket, key = self.dest_for(path, dest)
        rec.update(bucket=bucket, key=key)
        policy = self.policy
        policy.check_destination(bucket, key)

        decision = self.authorize([src])[src]
        if not decision.allowed:
            raise binding.refusal(decision, path)
        if getattr(decision.stat, "is_dir", False):
            raise errors.NoInputError(f"{path}: is a directory (-r/--recursive sends the files below it)")
        source = None
        if hdfs.is_local(path):
            # decided again, on the descriptor that will be read (the batch's answer was by name)
            source = stack.enter_context(binding.open_authorized(path, self.setup.identity, policy))
            decision = source.decision
        stat = decision.stat
        if stat is None or getattr(stat, "is_dir", False):
            raise errors.NoInputError(f"{path}: not a regular file")
        rec.update(src_bytes=int(stat.length), src_mtime=stat.mtime)
        fp = fingerprint(path, stat)

        s3 = self.setup.s3
        rec.update(role_arn=self.setup.role_arn if self.setup.assume_role else None,
                   session_name=self.setup.session_name)
        if self.object_options is not None:
            rec.update(self.object_options.record_fields())
        if not force and self._skip_if_same(rec, s3, bucket, key, fp):
            if self.dry_run:
                status.finish(rec, "would_skip", 0)
            return
        if self.dry_run:       # authorized and checked; nothing read, nothing uploaded
            status.finish(rec, "would_replace" if force and aws_head(s3, bucket, key) else "would_send", 0)
            return

        key_id, master = self.setup.keyring.active()
        rec["key_id"] = key_id
        hdfs_crc = self._checksums.get(src)
        rec.update(hdfscrc.record_fields(hdfs_crc, outcome="unchecked"))   # the reader says match/mismatch
        if source is None:
            # re-checked after the read by the group commit, before anything is completed
            source = stack.enter_context(binding.open_authorized(
                path, self.setup.identity, policy, decision=decision, hadoop_cmd=self.setup.hadoop_cmd,
                recheck_later=True))
        with progress_mod.file_meter(self.progress, path, int(stat.length)) as meter, \
                contextlib.closing(streamfmt.EncryptingReader(
                    progress_mod.Counting(hdfscrc.checking(source, hdfs_crc, path, rec), meter), key_id, master,
                    frame_size=self.frame_size, threads=self.threads, length=int(stat.length))) as enc:
            # The bound reader raises at EOF when the reader failed or came up short (and a
            # file:// source changed while read), and the checker when the bytes differ from
            # HDFS's checksum: the upload then aborts, since the encryptor never reached its
            # final frame. An HDFS source is re-checked (binding) after that, before completion:
            # its upload waits, sent but not completed, for the group commit's batch.
            peek = _HeaderPeek(enc)
            rec["stream_id"] = peek.header.stream_id.hex()
            meta = dict(fp)
            meta.update({META_KEY_ID: key_id, META_STREAM_ID: rec["stream_id"],
                         META_FORMAT: str(peek.header.version)})
            opts = self.object_options
            if opts is not None:
                meta = {**opts.metadata, **meta}
            if isinstance(hdfs_crc, hdfscrc.HdfsChecksum):
                meta[hdfscrc.META_HDFS_CRC] = hdfs_crc.meta()   # the upload completes only if the read matched it
            later = source.later     # an HDFS source: its re-check comes before completion
            try:
                up = s3put.upload(peek, bucket, key, s3=s3, framed=True, part_size=self.part_size,
                                  concurrency=self.concurrency, checksum_algorithm=self.checksum_algorithm,
                                  overwrite=force, metadata=meta, progress=meter, record=rec,
                                  precheck=False,   # _skip_if_same looked already
                                  bwlimit=self.bwlimit, extra=opts.request_args() if opts else None,
                                  defer=later is not None)
                meter.finish()
            except errors.Interrupted:
                raise
            except errors.KitError as e:
                if self._lost_race(rec, e, s3, bucket, key, fp, force):
                    return None
                raise
            xxh = (enc.summary or {}).get("xxh3_128")
        if later is None:
            self._completed(rec, up, xxh, key_id)
            return None

        def complete(result):
            self._completed(rec, result, xxh, key_id)

        def lost_race(e):
            return self._lost_race(rec, e, s3, bucket, key, fp, force)

        return _Waiting(rec, up, later, complete, lost_race)

    def _completed(self, rec, up, xxh, key_id):
        _merge(rec, up)
        rec["xxh3_128"] = xxh
        rec["key_id"] = key_id
        status.finish(rec, "ok", 0)

    def _lost_race(self, rec, e, s3, bucket, key, fp, force):
        """After the upload failed with e: True when another attempt (a speculative map task)
        created the object meanwhile with this very source version, so the file is done."""
        _merge(rec, e.record)
        if e.code == errors.CANTCREAT and not force:
            rec.update(status="started", finished=None)
            return self._skip_if_same(rec, s3, bucket, key, fp)
        return False

    def _skip_if_same(self, rec, s3, bucket, key, fp):
        from . import aws

        head = aws.head_or_none(s3, bucket, key)
        if head is None:
            return False
        meta = head.get("Metadata") or {}
        if not same_fingerprint(meta, fp):
            raise errors.ExistsError(
                f"s3://{bucket}/{key} exists and holds another version of the source "
                f"(length {meta.get(META_LENGTH, '?')}, mtime {meta.get(META_MTIME, '?')}); --force replaces it",
                status="exists")
        rec.update(key_id=meta.get(META_KEY_ID), stream_id=meta.get(META_STREAM_ID),
                   version_id=head.get("VersionId"), etag=(head.get("ETag") or "").strip('"') or None,
                   bytes=head.get("ContentLength"))
        status.finish(rec, "skipped", 0)
        return True


class Slot:
    """One file of a run: `.record`, final once `.done` (set by whoever finished it)."""

    __slots__ = ("record", "_event")

    def __init__(self, record):
        self.record = record
        self._event = threading.Event()

    @property
    def done(self):
        return self._event.is_set()

    def set(self):
        self._event.set()


class _Waiting:
    """An upload read and sent, held for its re-check (a groupcommit item): complete() commits
    it, fail(err) aborts it; either finishes the file's record and never raises for the file."""

    def __init__(self, rec, pending, check, on_complete, lost_race):
        self.rec, self.pending, self.check = rec, pending, check
        self.src = check.src
        self.held = pending.held
        self._on_complete, self._lost_race = on_complete, lost_race
        self.done = None       # set by Transfer.start

    def complete(self):
        try:
            result = self.pending.commit()
        except errors.KitBase as e:
            if isinstance(e, errors.KitError) and self._lost_race(e):
                return
            _finish_failed(self.rec, e)
            return
        self._on_complete(result)

    def fail(self, err):
        e = self.pending.abort(err)
        _finish_failed(self.rec, e)


def aws_head(s3, bucket, key):
    from . import aws

    return aws.head_or_none(s3, bucket, key)


def _merge(rec, other):
    """Take the uploader's fields (etag, parts, checksum, ...) into our record."""
    if not other or other is rec:
        return
    keep = {"tool", "src", "started", "_t0", "user", "host"}
    for k, v in other.items():
        if k not in keep and v is not None:
            rec[k] = v


def _finish_failed(rec, err):
    status.finish(rec, err.status, err.code, err.message)


def _warn(msg):
    from . import verbosity

    verbosity.info("transfer", f"warning: {msg}")      # -q: errors only
