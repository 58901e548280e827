"""Allow/deny decisions for (user, path), each one auditable.

Rules (a policy is one or more; every rule named must allow):
- `group` (the default): the user belongs to the file's group (`hadoop fs -stat %g`).
- `posix`: the effective read permission from the mode bits, classes checked
  owner, then group, then other, with no fall-through (as HDFS and POSIX do).
  Superusers get no special case: the decision is about the bits.
`allowed_groups` (when not None) limits which groups grant access at all:
under `group` the file's group must be one of them; under `posix` a user who
reaches the file through the group class is denied if that group is not one
of them (owner and other classes do not depend on groups).

Membership is exact: HDFS paths compare the file's group *name* with the
user's exact group names; `file://` paths compare group IDs (and the owner's
uid), so an unnamed gid never matches a group that happens to be named after
that number. Which rules apply, and where each came from (site policy, SSM
config, flags), is sitepolicy's business; every audit record names them.
"""

import grp
import os
import time

from . import errors, hdfs, paths as pathmod, sitepolicy

POLICIES = sitepolicy.RULES
_R = {"owner": 0o400, "group": 0o040, "other": 0o004}


def as_policy(policy="group", allowed_groups=None):
    """A sitepolicy.Policy from a Policy, or a rule name ('group', 'posix', 'group+posix') plus
    allowed_groups (empty or None: no restriction)."""
    if isinstance(policy, sitepolicy.Policy):
        return policy
    rules = sitepolicy.parse_rules(policy or "group", "policy", errors.UsageError)
    return sitepolicy.Policy(rules, tuple(allowed_groups) if allowed_groups else None)


def _now():
    """UTC now as 2026-01-02T03:04:05.678Z (milliseconds truncated, as datetime's isoformat does).
    time, not datetime: authz-check imports nothing else that needs datetime (~1 ms, issue 15)."""
    secs, ns = divmod(time.time_ns(), 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{ns // 1_000_000:03d}Z"


class Decision:
    # A plain class, not a dataclass: `dataclasses` pulls in `inspect` (~15 ms of authz-check's
    # 0.12 CPU-s start-up, issue 15). Nothing compares or copies decisions.
    __slots__ = ("path", "allowed", "reason", "stat", "code", "identity", "policy", "allowed_groups", "given",
                 "time")

    def __init__(self, path, allowed, reason, stat=None, code=errors.NOPERM, identity=None, policy=None,
                 allowed_groups=None, given=None, time=None):
        self.path = path
        self.allowed = allowed
        self.reason = reason
        self.stat = stat                      # hdfs.FileStat, or None when the status could not be read
        self.code = code                      # 0 allowed, 77 denied, else the error's exit code
        self.identity = identity
        self.policy = policy                  # sitepolicy.Policy
        self.allowed_groups = allowed_groups
        self.given = given                    # the path as the caller gave it, when it was relative
        self.time = _now() if time is None else time
        if not isinstance(self.policy, sitepolicy.Policy):
            self.policy = as_policy(self.policy or "group", self.allowed_groups)
        if self.allowed_groups is not None and not self.allowed_groups:
            self.allowed_groups = self.policy.allowed_groups

    @property
    def outcome(self):
        return "allow" if self.allowed else ("deny" if self.code == errors.NOPERM else "error")

    def groups_considered(self):
        groups = self.identity.groups if self.identity else ()
        if self.allowed_groups is not None:
            return [g for g in groups if g in self.allowed_groups]
        return list(groups)

    def audit_record(self):
        """One JSON-able dict per decision: who (the Linux user, and the Hadoop identity HDFS
        answered for), what, under which rule (and whose), and why."""
        st = self.stat
        pol = self.policy
        rec = {
            "time": self.time,
            "event": "authz",
            "host": os.uname().nodename,   # = socket.gethostname() on Linux, without importing socket (~3 ms)
            "pid": os.getpid(),
            "user": self.identity.name if self.identity else None,
            "uid": self.identity.uid if self.identity else None,
            "groups": self.groups_considered(),
            "path": self.path,
            "owner": st.owner if st else None,
            "group": st.group if st else None,
            "mode": f"{st.mode:04o}" if st else None,
            "is_dir": st.is_dir if st else None,
            "policy": pol.name,
            "policy_from": list(pol.sources),
            "allowed_groups": list(self.allowed_groups) if self.allowed_groups is not None else None,
            "decision": self.outcome,
            "reason": self.reason,
            "code": self.code,
        }
        # Who HDFS acted as when it answered (hadoopident): beside the Linux user decided for.
        from . import hadoopident

        ident = None if hdfs.is_local(self.path) else hadoopident.bound()
        rec.update(ident.record() if ident else hadoopident.empty_record())
        if ident is not None and ident.allowed_by:
            rec["hadoop_allowed_by"] = ident.allowed_by
        if st is not None and st.gid is not None:
            rec.update(owner_uid=st.uid, group_gid=st.gid)
        if self.given is not None:
            rec["given"] = self.given
        return rec


def _group_name(st):
    """The file's exact group name: for a local file, the name of its gid (None if unnamed)."""
    if st.gid is None:
        return st.group
    try:
        return grp.getgrgid(st.gid).gr_name
    except KeyError:
        return None


def _in_group(st, identity):
    if st.gid is not None and identity.gids:
        return identity.has_gid(st.gid)
    return identity.member_of(st.group)


def _is_owner(st, identity):
    if st.uid is not None and identity.uid is not None:
        return st.uid == identity.uid
    return identity.name == st.owner


def _decide_rule(rule, st, identity, allowed_groups):
    g = st.group
    gname = _group_name(st)
    allowed = allowed_groups is None or (gname is not None and gname in allowed_groups)
    if rule == "group":
        if not _in_group(st, identity):
            return False, f"{identity.name} is not a member of the file's group {g}"
        if not allowed:
            return False, f"the file's group {g} is not an allowed group"
        return True, f"{identity.name} is a member of the file's group {g}"
    if rule == "posix":
        if _is_owner(st, identity):
            cls = "owner"
        elif _in_group(st, identity):
            cls = "group"
            if not allowed:
                return False, f"access through group {g}, which is not an allowed group"
        else:
            cls = "other"
        if st.mode & _R[cls]:
            return True, f"read permission for {cls} (mode {st.mode:04o})"
        return False, f"no read permission for {cls} (mode {st.mode:04o})"
    raise errors.UsageError(f"unknown policy {rule!r} (choose from: {', '.join(POLICIES)})")


def decide(st, identity, policy="group", allowed_groups=()):
    """(allowed, reason) for a FileStat; pure, so every rule is testable without I/O.
    Every rule of the policy must allow; the reason is the first denial's, else all reasons."""
    pol = as_policy(policy, allowed_groups)
    reasons = []
    for rule in pol.rules:
        ok, reason = _decide_rule(rule, st, identity, pol.allowed_groups)
        if not ok:
            return False, reason
        reasons.append(reason)
    return True, "; ".join(reasons)


def check_policy(policy):
    as_policy(policy)
    return policy


def check_paths(paths, identity, *, policy="group", allowed_groups=(), hadoop_cmd=None):
    """One Decision per path, in order; HDFS statuses fetched in batches (one JVM per batch).

    A relative path is resolved first (paths.absolute): the Decision's `path` is the absolute
    path decided (and to be read), `given` what the caller wrote. A path whose status cannot be
    read gets allowed=False with that error's code (66 missing, 2 refused, 77 unreadable, 74
    other). A missing Hadoop client raises."""
    pol = as_policy(policy, allowed_groups)
    given = list(paths)
    absolute = [pathmod.absolute(p) for p in given]
    stats = hdfs.stat_many(absolute, hadoop_cmd=hadoop_cmd)
    ctx = {"identity": identity, "policy": pol, "allowed_groups": pol.allowed_groups}
    out = []
    for g, p in zip(given, absolute):
        st = stats[p]
        was = g if g != p else None
        if isinstance(st, errors.KitError):
            out.append(Decision(p, False, st.message, None, st.code, given=was, **ctx))
            continue
        ok, reason = decide(st, identity, pol)
        out.append(Decision(p, ok, reason, st, errors.OK if ok else errors.NOPERM, given=was, **ctx))
    return out


def check_iter(items, identity, *, policy="group", allowed_groups=(), hadoop_cmd=None, batch_size=5000):
    """Decisions for a stream of paths (e.g. a filter's stdin), one `-stat` JVM per batch_size
    paths, yielded in input order as each batch is decided. An item that is already a Decision
    (a path refused before any lookup) is passed through in its place."""
    pending, n = [], 0

    def flush():
        strs = [p for p in pending if isinstance(p, str)]
        decided = iter(check_paths(strs, identity, policy=policy, allowed_groups=allowed_groups,
                                   hadoop_cmd=hadoop_cmd) if strs else ())
        for it in pending:
            yield next(decided) if isinstance(it, str) else it

    for it in items:
        pending.append(it)
        n += isinstance(it, str)
        if n >= batch_size:
            yield from flush()
            pending, n = [], 0
    if pending:
        yield from flush()


def exit_code(codes):
    """From the decisions' codes: 77 if anything was denied; else the first error other than a
    missing path; else 66 if a path was missing; else 0."""
    codes = [c for c in codes if c]
    if errors.NOPERM in codes:
        return errors.NOPERM
    other = [c for c in codes if c != errors.NOINPUT]
    if other:
        return other[0]
    return errors.NOINPUT if codes else errors.OK
