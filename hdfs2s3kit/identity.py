"""Who is asking: a user name, its uid, and the groups NSS gives it, as gids and exact names.

Groups come from the kernel/NSS (`getgrouplist`, the call `login` and `id` use), so
LDAP/SSSD users and their groups count exactly as they do for the rest of the edge
node. They are kept as group IDs, each mapped to its exact name: nothing splits a
name (`domain users` stays one group), and a gid without a name has no name at all
(a group *named* `54321` is not the unnamed gid 54321). Local (`file://`) decisions
compare gids; HDFS decisions compare names, because HDFS reports names.
"""

import grp
import os
import pwd

from . import errors


class Identity:
    # A plain class, not a dataclass: `dataclasses` pulls in `inspect` (~15 ms of a filter's
    # 0.12 CPU-s start-up, issue 15). Nothing compares, hashes or copies identities.
    __slots__ = ("name", "groups", "uid", "gids")

    def __init__(self, name, groups, uid=None, gids=()):
        self.name = name
        self.groups = groups      # exact group names, primary group first (gids without a name left out)
        self.uid = uid
        self.gids = gids          # every group ID, primary first

    def member_of(self, group):
        """Membership by exact name (HDFS reports group names)."""
        return group is not None and group in self.groups

    def has_gid(self, gid):
        """Membership by group ID (local files carry gids)."""
        return gid in self.gids


def effective_user():
    """Name of the effective uid (what the kernel checks, not $USER, which anyone can set)."""
    uid = os.geteuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        raise errors.NoUserError(f"effective uid {uid} has no user name") from None


def audit_name():
    """The effective user's name for status records and STS session names; `uid<N>`
    when the uid has no passwd entry (containers), so a record never fails over it."""
    try:
        return effective_user()
    except errors.NoUserError:
        return f"uid{os.geteuid()}"


def check_name(name):
    """A user *name*: never a uid, never something a tool could read as an option."""
    if not name or name.startswith("-") or any(c in name for c in "\0\n/:") or name.isdigit():
        raise errors.UsageError(f"not a valid user name: {errors.printable(repr(name))}"
                                + (" (a user name, not a uid)" if name and name.isdigit() else ""))
    return name


def lookup(user=None):
    """Identity of USER (a name; default: the effective user) with its groups from NSS."""
    name = check_name(user if user is not None else effective_user())
    try:
        pw = pwd.getpwnam(name)   # by name only: `--user 0` is not root
    except KeyError:
        raise errors.NoUserError(f"unknown user: {errors.printable(name)}") from None
    try:
        gids = os.getgrouplist(pw.pw_name, pw.pw_gid)
    except OSError as e:
        raise errors.UnavailableError(f"cannot look up the groups of {name}: {e.strerror}") from None
    gids = tuple(dict.fromkeys([pw.pw_gid, *gids]))
    names = []
    for g in gids:
        try:
            names.append(grp.getgrgid(g).gr_name)
        except KeyError:
            pass   # a gid without a name: membership by gid only
    return Identity(pw.pw_name, tuple(dict.fromkeys(names)), pw.pw_uid, gids)
