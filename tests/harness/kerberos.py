"""A Kerberized HDFS for the tests: the launcher's `--kerberos` mode (MiniKdc + secure HDFS, no
YARN, one DataNode), and real test users with their own principals, keytabs and ticket caches.

Tier: what only a secure cluster shows — the principal in the ticket cache (not the Linux user)
is who HDFS acts as, a missing or expired ticket, delegation tokens for map tasks. One cluster
per module that asks for it (`kerberos_cluster`, ~10 s to start), stopped when that module's
tests are done, so the rest of the session does not carry a second JVM.

Everything is on localhost: the KDC, the NameNode and DataNode (service principal
hdfs/localhost@EXAMPLE.COM, so the HDFS superuser is `hdfs`). Java gets the KDC's krb5.conf
through the cluster's bin/hadoop (-Djava.security.krb5.conf); MIT's kinit/klist/kdestroy
(Debian's krb5-user, `make sysdeps`) through KRB5_CONFIG. Each user's ticket cache is
FILE:<base>/cc/<user>/ccache, in a folder only that user can enter; never /etc/krb5.conf.
"""

import os
import shutil

import pytest

from . import minicluster as mcmod
from .hadoop import world_tmp

MIT_TOOLS = ("kinit", "klist", "kdestroy")


def skip_reason():
    why = mcmod.skip_reason()
    if why:
        return why
    missing = [t for t in MIT_TOOLS if shutil.which(t) is None]
    if missing:
        return f"missing {', '.join(missing)} (make sysdeps installs Debian's krb5-user)"
    return None


class SecureHadoop(mcmod.MiniHadoop):
    """A running Kerberos-mode launcher; `users` makes principals for real Linux users."""

    def __init__(self, base, proc, ready, log):
        super().__init__(base, proc, ready, log)
        self.realm = ready["realm"]
        self.krb5_conf = ready["krb5_conf"]
        self.service_principal = ready["service_principal"]
        self.keytabs = self.base / "keytabs"
        self.keytabs.mkdir(exist_ok=True)
        self.keytabs.chmod(0o755)
        self.caches = self.base / "cc"
        self.caches.mkdir(exist_ok=True)
        self.caches.chmod(0o755)
        self._principals = {}

    def env(self):
        return dict(super().env(), KRB5_CONFIG=self.krb5_conf)

    def principal(self, user):
        """USER@REALM with a keytab only USER can read -> the keytab's path."""
        import pwd

        if user not in self._principals:
            keytab = self.keytabs / f"{user}.keytab"
            self.command("add-principal", user, keytab)
            pw = pwd.getpwnam(user)
            os.chown(keytab, pw.pw_uid, pw.pw_gid)
            keytab.chmod(0o600)
            self._principals[user] = keytab
        return self._principals[user]

    def ccache_dir(self, user):
        import pwd

        d = self.caches / user
        if not d.exists():
            d.mkdir()
            pw = pwd.getpwnam(user)
            os.chown(d, pw.pw_uid, pw.pw_gid)
            d.chmod(0o700)
        return d

    def ccache(self, user, name="ccache"):
        return f"FILE:{self.ccache_dir(user) / name}"

    def kinit(self, users, user, *, as_principal=None, lifetime=None, name="ccache"):
        """`kinit -kt` as the real USER into its own cache (the principal of USER, or of
        as_principal's keytab, which USER must be able to read) -> the env for USER's commands."""
        principal = as_principal or user
        keytab = self.principal(principal)
        cc = self.ccache(user, name)
        argv = ["kinit", *(["-l", lifetime] if lifetime else []), "-kt", keytab, principal]
        r = users.run(user, argv, env={"KRB5_CONFIG": self.krb5_conf, "KRB5CCNAME": cc})
        assert r.returncode == 0, r.stderr.decode()
        return dict(self.env(), KRB5CCNAME=cc)

    def fetch_token(self, users, user, env, *, protobuf=False):
        """An HDFS delegation token for USER (its ticket in env), renewable by USER -> file path.
        In Hadoop's two token-file forms: fetchdt writes the Writable one ("HDTS" version 0),
        dtutil -format protobuf the protobuf one (version 1)."""
        path = self.ccache_dir(user) / ("hdfs.pb.token" if protobuf else "hdfs.token")
        if protobuf:
            argv = [self.real_cmd, "dtutil", "get", self.fs_uri, "-format", "protobuf", "-renewer", user, path]
        else:
            argv = [self.real_cmd, "fetchdt", "--renewer", user, path]
        r = users.run(user, argv, env=env)
        assert r.returncode == 0 and path.exists(), r.stderr.decode()[-2000:]
        return str(path)


def start(base, *, datanodes=1):
    """A Kerberos-mode cluster in base (HDFS only)."""
    plain = mcmod.start(base, datanodes=datanodes, kerberos=True)
    return SecureHadoop(plain.base, plain.proc, plain.ready, plain.log)


@pytest.fixture(scope="module")
def kerberos_cluster():
    """One secure HDFS for the module (1 DataNode), stopped after its last test."""
    why = skip_reason()
    if why:
        pytest.skip(why)
    base = world_tmp("h2s-krb-")
    mc = start(base)
    yield mc
    mc.stop()
    shutil.rmtree(base, ignore_errors=True)
