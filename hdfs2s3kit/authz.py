"""Allow/deny decisions for (user, path), each one auditable.

Policies:
- `group` (the default): the user belongs to the file's group (`hadoop fs -stat %g`).
- `posix`: the effective read permission from the mode bits, classes checked
  owner, then group, then other, with no fall-through (as HDFS and POSIX do).
  Superusers get no special case: the decision is about the bits.
`allowed_groups` (when non-empty) limits which groups grant access at all:
under `group` the file's group must be one of them; under `posix` a user who
reaches the file through the group class is denied if that group is not one
of them (owner and other classes do not depend on groups).
"""

import datetime
import os
import socket
from dataclasses import dataclass, field

from . import errors, hdfs

POLICIES = ("group", "posix")
_R = {"owner": 0o400, "group": 0o040, "other": 0o004}


@dataclass
class Decision:
    path: str
    allowed: bool
    reason: str
    stat: object = None          # hdfs.FileStat, or None when the status could not be read
    code: int = errors.NOPERM    # 0 allowed, 77 denied, else the error's exit code
    identity: object = None
    policy: str = "group"
    allowed_groups: tuple = ()
    time: str = field(default_factory=lambda: datetime.datetime.now(datetime.timezone.utc)
                      .isoformat(timespec="milliseconds").replace("+00:00", "Z"))

    @property
    def outcome(self):
        return "allow" if self.allowed else ("deny" if self.code == errors.NOPERM else "error")

    def groups_considered(self):
        groups = self.identity.groups if self.identity else ()
        if self.allowed_groups:
            return [g for g in groups if g in self.allowed_groups]
        return list(groups)

    def audit_record(self):
        """One JSON-able dict per decision: who, what, under which rule, and why."""
        st = self.stat
        return {
            "time": self.time,
            "event": "authz",
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "user": self.identity.name if self.identity else None,
            "groups": self.groups_considered(),
            "path": self.path,
            "owner": st.owner if st else None,
            "group": st.group if st else None,
            "mode": f"{st.mode:04o}" if st else None,
            "is_dir": st.is_dir if st else None,
            "policy": self.policy,
            "allowed_groups": list(self.allowed_groups),
            "decision": self.outcome,
            "reason": self.reason,
            "code": self.code,
        }


def decide(st, identity, policy="group", allowed_groups=()):
    """(allowed, reason) for a FileStat; pure, so every rule is testable without I/O."""
    allowed_groups = tuple(allowed_groups or ())
    g = st.group
    if policy == "group":
        if not identity.member_of(g):
            return False, f"{identity.name} is not a member of the file's group {g}"
        if allowed_groups and g not in allowed_groups:
            return False, f"the file's group {g} is not an allowed group"
        return True, f"{identity.name} is a member of the file's group {g}"
    if policy == "posix":
        if identity.name == st.owner:
            cls = "owner"
        elif identity.member_of(g):
            cls = "group"
            if allowed_groups and g not in allowed_groups:
                return False, f"access through group {g}, which is not an allowed group"
        else:
            cls = "other"
        if st.mode & _R[cls]:
            return True, f"read permission for {cls} (mode {st.mode:04o})"
        return False, f"no read permission for {cls} (mode {st.mode:04o})"
    raise errors.UsageError(f"unknown policy {policy!r} (choose from: {', '.join(POLICIES)})")


def check_policy(policy):
    if policy not in POLICIES:
        raise errors.UsageError(f"unknown policy {policy!r} (choose from: {', '.join(POLICIES)})")
    return policy


def check_paths(paths, identity, *, policy="group", allowed_groups=(), hadoop_cmd=None):
    """One Decision per path, in order; HDFS statuses fetched in batches (one JVM per batch).

    A path whose status cannot be read gets allowed=False with that error's code
    (66 missing, 2 refused, 77 unreadable, 74 other). A missing Hadoop client raises."""
    check_policy(policy)
    allowed_groups = tuple(allowed_groups or ())
    paths = list(paths)
    stats = hdfs.stat_many(paths, hadoop_cmd=hadoop_cmd)
    ctx = {"identity": identity, "policy": policy, "allowed_groups": allowed_groups}
    out = []
    for p in paths:
        st = stats[p]
        if isinstance(st, errors.KitError):
            out.append(Decision(p, False, st.message, None, st.code, **ctx))
            continue
        ok, reason = decide(st, identity, policy, allowed_groups)
        out.append(Decision(p, ok, reason, st, errors.OK if ok else errors.NOPERM, **ctx))
    return out


def check_iter(paths, identity, *, policy="group", allowed_groups=(), hadoop_cmd=None, batch_size=5000):
    """Decisions for a stream of paths (e.g. a filter's stdin), one `-stat` JVM per batch_size
    paths, yielded as each batch is decided."""
    batch = []
    for p in paths:
        batch.append(p)
        if len(batch) >= batch_size:
            yield from check_paths(batch, identity, policy=policy, allowed_groups=allowed_groups,
                                   hadoop_cmd=hadoop_cmd)
            batch = []
    if batch:
        yield from check_paths(batch, identity, policy=policy, allowed_groups=allowed_groups,
                               hadoop_cmd=hadoop_cmd)


def policy_from_config(cfg, policy=None):
    """(policy, allowed_groups): an explicit policy wins over `authz_policy` in the config."""
    if cfg is None:
        return check_policy(policy or "group"), ()
    if policy:
        check_policy(policy)
    chosen = policy or cfg.get("authz_policy") or "group"
    if chosen not in POLICIES:
        raise errors.ConfigError(f"config {cfg.where('authz_policy')}: unknown policy {chosen!r} "
                                 f"(choose from: {', '.join(POLICIES)})")
    return chosen, tuple(cfg.list("allowed_groups"))


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
