"""`authz-check` against a real HDFS (the mini cluster), run as real Linux users.

Tier: the NameNode's own answers — groups as it resolves them, AccessControlException on a
folder the user cannot traverse, hdfs:// and relative paths, 1,000 paths in one JVM. The rule
logic itself is proven faster on the viewfs emulation (test_authz_cli.py, test_authz_rules.py).
"""

import json

import pytest


@pytest.fixture
def scene(minicluster, hdfs_home, linux_users, tmp_path):
    """alice in fin, bob in mkt. Under HOME: fin.csv (root:fin 640), mkt.csv (root:mkt 640),
    locked/ (bob:mkt 700) holding locked/fin.csv (root:fin 640); alice's own home with rel.csv."""
    u, mc = linux_users, minicluster
    alice, bob = u.user("alice", ["fin"]), u.user("bob", ["mkt"])
    fin, mkt = u.group("fin"), u.group("mkt")
    src = tmp_path / "data.csv"
    src.write_bytes(b"id,amount\n1,10\n")
    h = hdfs_home
    mc.su_fs("-mkdir", "-p", f"{h}/locked", f"/user/{alice}")
    for p in (f"{h}/fin.csv", f"{h}/mkt.csv", f"{h}/locked/fin.csv", f"/user/{alice}/rel.csv"):
        mc.su_fs("-put", "-f", str(src), p)
    mc.su_fs("-chgrp", fin, f"{h}/fin.csv", f"{h}/locked/fin.csv", f"/user/{alice}/rel.csv")
    mc.su_fs("-chgrp", mkt, f"{h}/mkt.csv")
    mc.su_fs("-chmod", "640", f"{h}/fin.csv", f"{h}/mkt.csv", f"{h}/locked/fin.csv")
    mc.su_fs("-chown", f"{bob}:{mkt}", f"{h}/locked")
    mc.su_fs("-chmod", "700", f"{h}/locked")
    mc.su_fs("-chown", f"{alice}:{fin}", f"/user/{alice}")

    class S:
        pass

    s = S()
    s.mc, s.u, s.alice, s.bob, s.fin, s.mkt, s.home = mc, u, alice, bob, fin, mkt, h

    def check(user, *args, input=None):
        return u.run(user, [u.cmd("authz-check"), *args], input=input, env=mc.env())

    s.check = check
    return s


def test_member_of_the_files_group_is_allowed_by_the_namenodes_answer(scene):
    r = scene.check(scene.alice, f"{scene.home}/fin.csv")
    assert r.returncode == 0, r.stderr
    # and HDFS agrees: the NameNode resolves alice's real Linux groups and lets her read it
    cat = scene.mc.fs("-cat", f"{scene.home}/fin.csv", user=scene.alice, users=scene.u)
    assert cat.returncode == 0 and cat.stdout == b"id,amount\n1,10\n", cat.stderr


def test_non_member_is_denied_77_naming_the_group(scene):
    r = scene.check(scene.alice, f"{scene.home}/mkt.csv")
    assert r.returncode == 77
    (line,) = r.stderr.decode().splitlines()
    assert line.startswith("authz-check: denied ") and scene.mkt in line
    # the NameNode also refuses the read itself
    cat = scene.mc.fs("-cat", f"{scene.home}/mkt.csv", user=scene.alice, users=scene.u)
    assert cat.returncode != 0 and b"Permission denied" in cat.stderr


def test_untraversable_folder_is_77_with_hdfs_reason_not_missing(scene):
    path = f"{scene.home}/locked/fin.csv"   # alice is in fin, but cannot enter locked/
    r = scene.check(scene.alice, path)
    assert r.returncode == 77, r.stderr
    msg = r.stderr.decode().splitlines()
    assert len(msg) == 1 and path in msg[0], msg
    # HDFS's own reason: which access to which inode was refused
    assert "access=EXECUTE" in msg[0] and f'{scene.home}/locked"' in msg[0], msg[0]
    # with --audit, stderr is JSON lines only, and the record carries the same reason
    a = scene.check(scene.alice, "--audit", path)
    assert a.returncode == 77, a.stderr
    recs = [json.loads(ln) for ln in a.stderr.decode().splitlines()]
    (rec,) = [x for x in recs if x.get("event") == "authz"]
    assert rec["decision"] == "deny" and rec["code"] == 77 and rec["path"] == path
    assert "access=EXECUTE" in rec["reason"], rec["reason"]


def test_missing_file_is_66(scene):
    r = scene.check(scene.alice, f"{scene.home}/no-such.csv")
    assert r.returncode == 66
    assert "no such file or directory" in r.stderr.decode()


def test_hdfs_uri_bare_and_relative_paths_are_judged_on_the_same_file(scene):
    bare = f"/user/{scene.alice}/rel.csv"
    forms = [bare, scene.mc.uri(bare), "rel.csv"]      # relative: to alice's HDFS home
    r = scene.check(scene.alice, "--audit", *forms)
    assert r.returncode == 0, r.stderr
    recs = [json.loads(ln) for ln in r.stderr.decode().splitlines() if ln.startswith("{")]
    # a relative path is resolved against the HDFS home before deciding, and audited absolute
    assert [x["path"] for x in recs] == [bare, forms[1], bare]
    assert {(x["owner"], x["group"], x["decision"]) for x in recs} == {(scene.mc.superuser, scene.fin, "allow")}
    # bob is not in fin: the same file is denied in every absolute spelling
    r = scene.check(scene.bob, forms[0], forms[1])
    assert r.returncode == 77
    assert r.stderr.decode().count("denied") == 2


def test_a_thousand_paths_are_judged_in_one_jvm(scene):
    # Empty files: authz judges names, groups and modes, never bytes, and 1,000 written files cost
    # ~2 minutes of block pipelines on the mini cluster where 1,000 -touchz cost a few seconds.
    names = [f"f{i:04d}.csv" for i in range(1000)]
    scene.mc.su_fs("-mkdir", f"{scene.home}/many")
    scene.mc.su_fs("-touchz", *[f"{scene.home}/many/{n}" for n in names])
    fin_names = names[::2]
    scene.mc.su_fs("-chgrp", scene.fin, *[f"{scene.home}/many/{n}" for n in fin_names])
    paths = [f"{scene.home}/many/{n}" for n in names]
    before = scene.mc.launches()
    r = scene.u.run(scene.alice, [scene.u.cmd("authz-check")], input=("\n".join(paths) + "\n").encode(),
                    env=dict(scene.mc.env()))
    assert scene.mc.launches() - before == 1
    assert r.returncode == 77        # the other half is in root's group, not alice's
    assert r.stdout.decode().splitlines() == [f"{scene.home}/many/{n}" for n in fin_names]
    assert r.stderr.decode().count("denied") == 500
