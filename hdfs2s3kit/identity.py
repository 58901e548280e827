"""Who is asking: a user name and the groups NSS gives it.

Groups come from `id -Gn NAME`, not /etc/group, so LDAP/SSSD users and their
groups count exactly as they do for the rest of the edge node.
"""

import os
import pwd
import subprocess
from dataclasses import dataclass

from . import errors

ID_CMD = "id"


@dataclass(frozen=True)
class Identity:
    name: str
    groups: tuple

    def member_of(self, group):
        return group in self.groups


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


def lookup(user=None):
    """Identity of USER (default: the effective user) with its groups as `id -Gn` reports them."""
    name = user if user is not None else effective_user()
    if not name or name.startswith("-") or any(c in name for c in "\0\n/:"):
        # `id` would read a leading '-' as an option; the rest can never be a user name.
        raise errors.UsageError(f"not a valid user name: {name!r}")
    try:
        r = subprocess.run([ID_CMD, "-Gn", name], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=dict(os.environ, LC_ALL="C"), timeout=60)
    except FileNotFoundError:
        raise errors.UnavailableError(f"cannot look up groups: '{ID_CMD}' not found") from None
    except subprocess.TimeoutExpired:
        raise errors.TempFailError(f"'{ID_CMD} -Gn {name}' did not answer within 60 s") from None
    out = r.stdout.decode(errors="replace").split()
    err = r.stderr.decode(errors="replace").strip()
    if r.returncode != 0:
        if "no such user" in err.lower():
            raise errors.NoUserError(f"unknown user: {name}")
        if not out:
            raise errors.UnavailableError(f"'{ID_CMD} -Gn {name}' failed: {err or f'exit {r.returncode}'}")
        # A gid without a name makes `id` print the number and exit 1; the
        # membership itself is real, so keep it (as the number).
    return Identity(name, tuple(dict.fromkeys(out)))
