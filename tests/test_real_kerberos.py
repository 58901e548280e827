"""The toolkit on a Kerberized HDFS (harness/kerberos.py: MiniKdc + secure NameNode/DataNode), run
as real Linux users with their own principals and ticket caches; and the identity binding
under simple authentication on the plain mini cluster.

Tier: what only a secure cluster shows. HDFS acts for the principal in the ticket cache (or
the delegation token), not for the Linux user: these tests prove that `authz-check`, `cat`,
`transfer` and the mapper work with a ticket or a job's token, that a missing/expired/refused
ticket is one line and 77 (never a Java trace), and that a Hadoop identity other than the
Linux user is refused before any JVM starts. auth_to_local and the file formats are checked
against Hadoop's own code in test_hadoopident.py.
"""

import json
import os
import pwd
import shutil
import time

import pytest

from harness.kerberos import kerberos_cluster  # noqa: F401 - fixture
from harness.hadoop import site_file
from test_least_privilege import recorder  # noqa: F401 - fixture (records AssumeRole calls)
from test_transfer_support import KEY_PREFIX, records

DATA = b"id,amount\n1,10\n2,20\n"


def _one_line(r):
    err = r.stderr.decode(errors="replace")
    assert "\tat " not in err and "Exception in thread" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.fixture(scope="module")
def scene(kerberos_cluster, linux_users, tmp_path_factory):  # noqa: F811
    """alice in fin, bob in mkt, each with a principal; on the secure HDFS under /user/krb:
    fin.csv (hdfs:fin 640), mkt.csv (hdfs:mkt 640)."""
    mc, u = kerberos_cluster, linux_users
    alice, bob = u.user("kalice", ["kfin"]), u.user("kbob", ["kmkt"])
    fin, mkt = u.group("kfin"), u.group("kmkt")
    src = tmp_path_factory.mktemp("krb") / "data.csv"
    src.write_bytes(DATA)
    h = "/user/krb"
    mc.su_fs("-mkdir", "-p", h)
    mc.su_fs("-chmod", "755", h)
    mc.su_fs("-put", "-f", str(src), f"{h}/fin.csv")
    mc.su_fs("-put", "-f", str(src), f"{h}/mkt.csv")
    mc.su_fs("-chgrp", fin, f"{h}/fin.csv")
    mc.su_fs("-chgrp", mkt, f"{h}/mkt.csv")
    mc.su_fs("-chmod", "640", f"{h}/fin.csv", f"{h}/mkt.csv")

    class S:
        pass

    s = S()
    s.mc, s.u, s.alice, s.bob, s.fin, s.mkt, s.home = mc, u, alice, bob, fin, mkt, h
    s.alice_env = mc.kinit(u, alice)
    s.bob_env = mc.kinit(u, bob)

    def run(user, *argv, env, input=None):
        return u.run(user, [u.cmd(argv[0]), *argv[1:]], env=env, input=input)

    s.run = run
    return s


def test_authz_check_with_a_ticket_judges_the_linux_user_and_audits_the_principal(scene):
    s = scene
    r = s.run(s.alice, "authz-check", "--audit", f"{s.home}/fin.csv", f"{s.home}/mkt.csv", env=s.alice_env)
    assert r.returncode == 77, r.stderr
    recs = {x["path"]: x for x in map(json.loads, r.stderr.decode().splitlines()) if x.get("event") == "authz"}
    fin, mkt = recs[f"{s.home}/fin.csv"], recs[f"{s.home}/mkt.csv"]
    assert (fin["decision"], mkt["decision"]) == ("allow", "deny")
    # the NameNode answered under Kerberos: hdfs (the service principal's short name) owns them
    assert fin["owner"] == "hdfs" and fin["group"] == s.fin
    for rec in (fin, mkt):
        assert rec["user"] == s.alice
        assert (rec["hadoop_user"], rec["hadoop_principal"], rec["hadoop_auth"]) == \
            (s.alice, f"{s.alice}@{s.mc.realm}", "kerberos")


def test_cat_with_a_ticket_is_byte_exact(scene):
    s = scene
    r = s.run(s.alice, "hdfs2s3kit", "cat", f"{s.home}/fin.csv", env=s.alice_env)
    assert r.returncode == 0 and r.stdout == DATA, r.stderr


def test_no_ticket_is_one_line_77_before_any_jvm(scene):
    s = scene
    env = dict(s.alice_env, KRB5CCNAME=s.mc.ccache(s.alice, "none"))
    before = s.mc.launches()
    for argv in (("authz-check", f"{s.home}/fin.csv"), ("hdfs2s3kit", "cat", f"{s.home}/fin.csv")):
        r = s.run(s.alice, *argv, env=dict(env, HADOOP_CMD=s.mc.cmd))
        assert r.returncode == 77 and r.stdout == b""
        line = _one_line(r)
        assert f"no valid Kerberos ticket for {s.alice}: run kinit" in line, line
    assert s.mc.launches() == before


def test_expired_ticket_is_one_line_77(scene):
    s = scene
    env = s.mc.kinit(s.u, s.alice, lifetime="2s", name="short")
    time.sleep(3)
    r = s.run(s.alice, "hdfs2s3kit", "cat", f"{s.home}/fin.csv", env=env)
    assert r.returncode == 77 and r.stdout == b""
    line = _one_line(r)
    assert f"no valid Kerberos ticket for {s.alice}: run kinit" in line and "expired" in line, line


def test_a_ticket_the_namenode_refuses_is_the_same_one_line_not_a_java_trace(scene):
    """A delegation token that looks valid (owner, dates) but was cancelled: only the NameNode
    can tell, so the JVM fails, and its failure is mapped to the one line."""
    s = scene
    token = s.mc.fetch_token(s.u, s.alice, s.alice_env)
    c = s.u.run(s.alice, [s.mc.real_cmd, "fetchdt", "--cancel", token], env=s.alice_env)
    assert c.returncode == 0, c.stderr.decode()[-2000:]
    env = dict(s.alice_env, KRB5CCNAME=s.mc.ccache(s.alice, "none"), HADOOP_TOKEN_FILE_LOCATION=token)
    r = s.run(s.alice, "hdfs2s3kit", "cat", f"{s.home}/fin.csv", env=env)
    assert r.returncode == 77 and r.stdout == b""
    line = _one_line(r)
    assert f"no valid Kerberos ticket for {s.alice}: run kinit" in line and "HDFS refused" in line, line


def test_alice_holding_bobs_ticket_is_refused_before_reading(scene, kit):
    s = scene
    # alice has a copy of bob's ticket cache (and HDFS would serve her as bob: the hole)
    stolen = s.mc.ccache_dir(s.alice) / "bobs"
    shutil.copy(s.mc.ccache_dir(s.bob) / "ccache", stolen)
    pw = pwd.getpwnam(s.alice)
    os.chown(stolen, pw.pw_uid, pw.pw_gid)
    env = dict(s.mc.env(), KRB5CCNAME=f"FILE:{stolen}")
    hole = s.mc.fs("-cat", f"{s.home}/mkt.csv", user=s.alice, users=s.u, env=env)
    assert hole.returncode == 0 and hole.stdout == DATA, hole.stderr   # bob's file, read by alice
    env["HADOOP_CMD"] = s.mc.cmd
    before = s.mc.launches()
    for argv in (("hdfs2s3kit", "cat", f"{s.home}/mkt.csv"), ("authz-check", f"{s.home}/fin.csv")):
        r = s.run(s.alice, *argv, env=env)
        assert r.returncode == 77 and r.stdout == b""
        line = _one_line(r)
        assert f"Hadoop identity {s.bob} (principal {s.bob}@{s.mc.realm})" in line and f"is not {s.alice}" in line
    r = s.run(s.alice, "hdfs2s3kit", "transfer", f"{s.home}/fin.csv", env=dict(kit.env, **env))
    assert r.returncode == 77
    (rec,) = records(r.stdout)
    assert rec["status"] == "denied" and rec["exit_code"] == 77 and f"is not {s.alice}" in rec["error"]
    # a job's tasks would read with bob's delegation tokens: not submitted, by either engine
    archive = s.mc.ccache_dir(s.alice) / "archive.tgz"
    archive.write_bytes(b"")
    for engine in ("hadoop", "spark"):
        r = s.run(s.alice, "hdfs2s3kit", "job", "--engine", engine, "--input", f"{s.home}/list.txt",
                  "--archive", str(archive), "--run-id", f"krb-{engine}", "--audit",
                  env=dict(kit.env, **env, HADOOP_STREAMING_JAR=s.mc.streaming_jar))
        assert r.returncode == 77, r.stderr
        out = [json.loads(x) for x in r.stderr.decode().splitlines()]     # --audit: JSON lines only
        (job,) = [x for x in out if x.get("event") == "job"]
        assert (job["decision"], job["code"], job["engine"]) == ("deny", 77, engine)
        assert (job["user"], job["hadoop_user"], job["hadoop_principal"]) == (s.alice, s.bob, f"{s.bob}@{s.mc.realm}")
        assert [x["code"] for x in out if x.get("event") == "error"] == [77]
    assert s.mc.launches() == before                                    # not one JVM: nothing read
    assert kit.objects() == []


def test_transfer_with_a_ticket_carries_both_identities_to_records_and_sts(scene, kit, recorder):  # noqa: F811
    s = scene
    env = dict(kit.env, **s.alice_env, AWS_ENDPOINT_URL_STS=recorder.url)
    r = s.run(s.alice, "hdfs2s3kit", "transfer", f"{s.home}/fin.csv", env=env)
    assert r.returncode == 0, r.stderr
    (rec,) = records(r.stdout)
    assert rec["status"] == "ok" and rec["user"] == s.alice
    principal = f"{s.alice}@{s.mc.realm}"
    assert (rec["hadoop_user"], rec["hadoop_principal"], rec["hadoop_auth"]) == (s.alice, principal, "kerberos")
    assert rec["session_name"].startswith(f"{s.alice}+{s.alice}@")
    (call,) = [c for c in recorder.calls if c.get("Action") == "AssumeRole"]
    assert call["SourceIdentity"] == f"{s.alice}+{principal}"
    assert kit.decrypt(f"{KEY_PREFIX}{s.home}/fin.csv") == DATA


def test_mapper_reads_with_the_jobs_delegation_token_and_no_ticket_cache(scene, kit):
    s = scene
    token = s.mc.fetch_token(s.u, s.alice, s.alice_env)
    no_cache = s.mc.ccache(s.alice, "none")        # like a map task: a token file, no ticket
    base = dict(kit.env, **s.mc.env(), KRB5CCNAME=no_cache)
    listing = f"{s.home}/fin.csv\n".encode()
    r = s.run(s.alice, "hdfs2s3kit", "map", "--run-id", "krb-token", "--no-manifest", input=listing,
              env=dict(base, HADOOP_TOKEN_FILE_LOCATION=token))
    assert r.returncode == 0, r.stderr
    (row,) = [ln.split("\t") for ln in r.stdout.decode().splitlines()]
    assert row[0] == "ok", row
    assert kit.decrypt(f"{KEY_PREFIX}{s.home}/fin.csv") == DATA
    # without the token the same task has no credentials: one clear row, no Java trace
    r = s.run(s.alice, "hdfs2s3kit", "map", "--run-id", "krb-none", "--no-manifest", input=listing, env=base)
    (row,) = [ln.split("\t") for ln in r.stdout.decode().splitlines()]
    assert row[0] == "denied" and f"no valid Kerberos ticket for {s.alice}: run kinit" in row[6], row
    assert "\tat " not in r.stderr.decode()


def test_a_protobuf_token_file_from_dtutil_reads_like_fetchdts_and_an_unknown_form_is_77(scene, tmp_path):
    """Hadoop writes token files in two forms (Writable: fetchdt; protobuf: dtutil, and what
    newer YARN may localise): both name alice's token, so both read as alice with no ticket."""
    s = scene
    token = s.mc.fetch_token(s.u, s.alice, s.alice_env, protobuf=True)
    with open(token, "rb") as f:
        assert f.read(5) == b"HDTS\x01"                  # really the protobuf form
    env = dict(s.mc.env(), KRB5CCNAME=s.mc.ccache(s.alice, "none"), HADOOP_TOKEN_FILE_LOCATION=token)
    r = s.run(s.alice, "hdfs2s3kit", "cat", f"{s.home}/fin.csv", env=env)
    assert r.returncode == 0 and r.stdout == DATA, r.stderr
    r = s.run(s.alice, "authz-check", "--audit", f"{s.home}/fin.csv", env=env)
    (rec,) = [x for x in map(json.loads, r.stderr.decode().splitlines()) if x.get("event") == "authz"]
    assert (rec["decision"], rec["hadoop_user"], rec["hadoop_auth"]) == ("allow", s.alice, "token")
    # a form we cannot read is refused in one line, before any JVM (not handed to Java to guess)
    odd = s.mc.ccache_dir(s.alice) / "odd.token"
    with open(token, "rb") as f:
        odd.write_bytes(b"HDTS\x07" + f.read()[5:])
    os.chown(odd, pwd.getpwnam(s.alice).pw_uid, -1)
    before = s.mc.launches()
    r = s.run(s.alice, "hdfs2s3kit", "cat", f"{s.home}/fin.csv", env=dict(env, HADOOP_TOKEN_FILE_LOCATION=str(odd)))
    assert r.returncode == 77 and r.stdout == b""
    line = _one_line(r)
    assert f"cannot read the token file {odd}" in line and "unknown token file version 7" in line, line
    assert s.mc.launches() == before


# ---------------------------------------------------------------- simple authentication (plain cluster)

@pytest.fixture
def simple_scene(minicluster, hdfs_home, linux_users, tmp_path):
    mc, u = minicluster, linux_users
    carol = u.user("scarol")
    src = tmp_path / "secret.csv"
    src.write_bytes(DATA)
    path = f"{hdfs_home}/secret.csv"
    mc.su_fs("-put", str(src), path)
    mc.su_fs("-chmod", "600", path)          # the superuser's alone
    return mc, u, carol, path


def test_hadoop_user_name_of_the_superuser_is_refused_before_reading(simple_scene):
    mc, u, carol, path = simple_scene
    env = dict(mc.env(), HADOOP_USER_NAME=mc.superuser)
    hole = mc.fs("-cat", path, user=carol, users=u, env=env)
    assert hole.returncode == 0 and hole.stdout == DATA       # what simple auth lets anyone do
    before = mc.launches()
    for argv in (("hdfs2s3kit", "cat", path), ("authz-check", path)):
        r = u.run(carol, [u.cmd(argv[0]), *argv[1:]], env=env)
        assert r.returncode == 77 and r.stdout == b""
        line = _one_line(r)
        assert f"Hadoop identity {mc.superuser} from HADOOP_USER_NAME is not {carol}" in line, line
    assert mc.launches() == before


def test_site_policy_can_allow_a_named_service_identity(simple_scene):
    mc, u, carol, path = simple_scene
    svc = u.user("ssvc")                    # e.g. the NodeManager's user running a job's tasks
    mc.su_fs("-chown", carol, path)
    env = dict(mc.env(), HADOOP_USER_NAME=carol)
    r = u.run(svc, [u.cmd("authz-check"), "--audit", path], env=env)
    assert r.returncode == 77 and "is not " + svc in r.stderr.decode()
    site = site_file(f"allowed_hadoop_identities = {svc}:*\n")
    r = u.run(svc, [u.cmd("authz-check"), "--audit", path], env=dict(env, HDFS2S3_SITE_CONF=site))
    (rec,) = [x for x in map(json.loads, r.stderr.decode().splitlines()) if x.get("event") == "authz"]
    # allowed to act as carol in HDFS; still judged as svc (not in the file's group)
    assert rec["user"] == svc and rec["hadoop_user"] == carol and rec["hadoop_auth"] == "simple"
    assert rec["hadoop_allowed_by"] == f"site:{site}" and rec["decision"] == "deny"
    # a pair for another user does not count
    other = site_file(f"allowed_hadoop_identities = {carol}:*\n")
    r = u.run(svc, [u.cmd("authz-check"), path], env=dict(env, HDFS2S3_SITE_CONF=other))
    assert r.returncode == 77 and "is not " + svc in r.stderr.decode()
