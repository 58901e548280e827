"""`authz-check` run as real Linux users against the real Hadoop FsShell (viewfs onto a temp folder)."""

import grp
import json
import os
import pwd
import shutil

import pytest

from harness.hadoop import Hadoop, world_tmp


def make_file(local_dir, name, owner, group, mode, data=b"x"):
    p = local_dir / name
    p.write_bytes(data)
    os.chown(p, pwd.getpwnam(owner).pw_uid, grp.getgrnam(group).gr_gid)
    os.chmod(p, mode)
    return p


@pytest.fixture
def scene(hadoop, hdfs_dir, linux_users):
    """alice in fin; bob in mkt; dave in fin and mkt. Files with those groups under one /user folder."""
    u = linux_users
    alice, bob, dave = u.user("alice", ["fin"]), u.user("bob", ["mkt"]), u.user("dave", ["fin", "mkt"])
    fin, mkt = u.group("fin"), u.group("mkt")
    hpath, local = hdfs_dir
    make_file(local, "fin.csv", "root", fin, 0o640)
    make_file(local, "fin2.csv", "root", fin, 0o640)
    make_file(local, "mkt.csv", "root", mkt, 0o640)
    make_file(local, "pub.csv", bob, mkt, 0o644)        # posix: readable by anyone through "other"
    make_file(local, "fin-owner-only.csv", "root", fin, 0o600)
    make_file(local, "alice-no-owner-read.csv", alice, mkt, 0o044)

    class S:
        pass

    s = S()
    s.u, s.alice, s.bob, s.dave, s.fin, s.mkt, s.dir, s.local, s.hadoop = u, alice, bob, dave, fin, mkt, hpath, local, hadoop
    s.p = lambda name: f"{hpath}/{name}"

    def check(user, *args, input=None, env=None):
        e = dict(hadoop.env())
        e.update(env or {})
        return u.run(user, [u.cmd("authz-check"), *args], input=input, env=e)

    s.check = check
    return s


def lines(b):
    return b.decode().splitlines()


def audit(r):
    return [json.loads(ln) for ln in lines(r.stderr) if ln.startswith("{")]


def test_member_of_the_files_group_is_allowed(scene):
    r = scene.check(scene.alice, scene.p("fin.csv"))
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"" and r.stderr == b""


def test_non_member_is_denied_with_exit_77_and_a_reason(scene):
    r = scene.check(scene.alice, scene.p("mkt.csv"))
    assert r.returncode == 77
    err = lines(r.stderr)
    assert len(err) == 1
    assert err[0].startswith("authz-check: denied ") and scene.p("mkt.csv") in err[0] and scene.mkt in err[0]


def test_filter_passes_only_allowed_paths_and_reports_each_denial(scene):
    paths = [scene.p(n) for n in ("fin.csv", "mkt.csv", "fin2.csv", "pub.csv")]
    r = scene.check(scene.alice, input=("\n".join(paths) + "\n").encode())
    assert r.returncode == 77
    assert lines(r.stdout) == [paths[0], paths[2]]
    denied = [ln for ln in lines(r.stderr) if "denied" in ln]
    assert len(denied) == 2 and paths[1] in denied[0] and paths[3] in denied[1]


def test_filter_with_nul_separators_keeps_odd_names_intact(scene):
    odd = "we ird*[1].csv"
    make_file(scene.local, odd, "root", scene.fin, 0o640)
    make_file(scene.local, "we ird1.csv", "root", scene.mkt, 0o640)  # what the glob would match
    paths = [scene.p(odd), scene.p("mkt.csv")]
    r = scene.check(scene.alice, "-0", input=b"\0".join(p.encode() for p in paths) + b"\0")
    assert r.returncode == 77
    assert r.stdout == paths[0].encode() + b"\0"


def test_all_allowed_filter_exits_0(scene):
    paths = [scene.p("fin.csv"), scene.p("fin2.csv")]
    r = scene.check(scene.alice, input="\n".join(paths).encode())
    assert (r.returncode, lines(r.stdout)) == (0, paths), r.stderr


def test_unknown_user_exits_67(scene):
    r = scene.check("root", "--user", "h2s-no-such-user", scene.p("fin.csv"))
    assert r.returncode == 67
    assert lines(r.stderr) == ["authz-check: unknown user: h2s-no-such-user"]


def test_root_can_check_on_behalf_of_a_user(scene):
    r = scene.check("root", "--user", scene.bob, scene.p("fin.csv"), scene.p("mkt.csv"), "--audit")
    assert r.returncode == 77
    recs = audit(r)
    assert [(x["user"], x["decision"]) for x in recs] == [(scene.bob, "deny"), (scene.bob, "allow")]


def test_a_user_cannot_check_on_behalf_of_another(scene):
    r = scene.check(scene.alice, "--user", scene.dave, scene.p("mkt.csv"))
    assert r.returncode == 77
    assert "only root" in r.stderr.decode()


def test_missing_path_is_reported_per_path_and_exits_66(scene):
    missing = scene.p("nope.csv")
    r = scene.check(scene.alice, input=f"{scene.p('fin.csv')}\n{missing}\n".encode())
    assert r.returncode == 66
    assert lines(r.stdout) == [scene.p("fin.csv")]
    assert lines(r.stderr) == [f"authz-check: {missing}: no such file or directory"]


def test_a_denial_outranks_a_missing_path(scene):
    r = scene.check(scene.alice, scene.p("nope.csv"), scene.p("mkt.csv"))
    assert r.returncode == 77
    assert len(lines(r.stderr)) == 2


def test_hadoop_not_installed_exits_69(scene):
    r = scene.check(scene.alice, scene.p("fin.csv"), env={"HADOOP_CMD": "/nonexistent/hadoop"})
    assert r.returncode == 69
    assert lines(r.stderr) == ["authz-check: Hadoop client not found: '/nonexistent/hadoop' "
                               "(install it or set HADOOP_CMD)"]
    env = {"HADOOP_CMD": "", "PATH": "/usr/bin:/bin"}
    r = scene.check(scene.alice, scene.p("fin.csv"), env=env)
    assert r.returncode == 69 and b"'hadoop'" in r.stderr


def test_failing_hadoop_client_shows_its_first_meaningful_line_not_a_stack(scene):
    base = world_tmp("h2s-broken-")
    try:
        broken = Hadoop.build(base, core_site=False)
        r = scene.check(scene.alice, scene.p("fin.csv"), env=broken.env())
    finally:
        shutil.rmtree(base)
    assert r.returncode == 69
    err = lines(r.stderr)
    assert len(err) == 1 and "core-site.xml not found" in err[0], err
    assert "\tat " not in r.stderr.decode() and "Exception in thread" not in err[0]


def test_posix_policy_uses_the_mode_bits(scene):
    pub, owner_only = scene.p("pub.csv"), scene.p("fin-owner-only.csv")
    r = scene.check(scene.alice, "--policy", "posix", "--audit", pub, owner_only)
    assert r.returncode == 77
    recs = {x["path"]: x for x in audit(r)}
    assert recs[pub]["decision"] == "allow" and "other" in recs[pub]["reason"]
    assert recs[owner_only]["decision"] == "deny" and "group" in recs[owner_only]["reason"]
    # The same two under the group policy: the opposite answers.
    r = scene.check(scene.alice, "--policy", "group", "--audit", pub, owner_only)
    assert [x["decision"] for x in audit(r)] == ["deny", "allow"]


def test_posix_owner_without_read_bit_is_denied_even_if_others_may_read(scene):
    p = scene.p("alice-no-owner-read.csv")
    assert scene.check(scene.alice, "--policy", "posix", p).returncode == 77
    assert scene.check(scene.bob, "--policy", "posix", p).returncode == 0   # bob reads through group mkt


def test_unknown_policy_is_a_usage_error(scene):
    r = scene.check(scene.alice, "--policy", "acl", scene.p("fin.csv"))
    assert r.returncode == 2 and b"unknown policy 'acl'" in r.stderr


def test_allowed_groups_and_policy_come_from_the_ssm_config(scene, boto):
    ssm = boto.client("ssm")
    ssm.put_parameter(Name="/h2s-authz/allowed_groups", Value=scene.mkt, Type="String")
    ssm.put_parameter(Name="/h2s-authz/authz_policy", Value="group", Type="String")
    paths = [scene.p("fin.csv"), scene.p("mkt.csv")]
    r = scene.check(scene.dave, "--config", "/h2s-authz", "--audit", *paths)
    assert r.returncode == 77, r.stderr
    recs = audit(r)
    assert [x["decision"] for x in recs] == ["deny", "allow"]
    assert "not an allowed group" in recs[0]["reason"]
    assert recs[0]["groups"] == [scene.mkt] and recs[0]["allowed_groups"] == [scene.mkt]
    # The config's policy applies; --policy can only add a rule to it, never replace it.
    ssm.put_parameter(Name="/h2s-authz/authz_policy", Value="posix", Type="String", Overwrite=True)
    r = scene.check(scene.dave, "--audit", paths[1], env={"HDFS2S3_CONFIG": "/h2s-authz"})
    assert audit(r)[0]["policy"] == "posix" and audit(r)[0]["policy_from"] == ["ssm:/h2s-authz"]
    r = scene.check(scene.dave, "--audit", "--policy", "group", "--config", "/h2s-authz", paths[1])
    assert audit(r)[0]["policy"] == "group+posix"
    assert audit(r)[0]["policy_from"] == ["ssm:/h2s-authz", "flag:--policy"]


def test_audit_has_one_json_line_per_decision_with_the_real_file_facts(scene):
    paths = [scene.p("fin.csv"), scene.p("mkt.csv"), scene.p("nope.csv")]
    r = scene.check(scene.alice, "--audit", *paths)
    recs = audit(r)
    assert [x["path"] for x in recs] == paths
    assert [x["decision"] for x in recs] == ["allow", "deny", "error"]
    st = os.stat(scene.local / "mkt.csv")
    m = recs[1]
    assert (m["owner"], m["group"], m["mode"]) == ("root", grp.getgrgid(st.st_gid).gr_name, "0640")
    assert m["user"] == scene.alice and set(m["groups"]) >= {scene.fin} and m["policy"] == "group"
    assert m["code"] == 77 and m["time"].endswith("Z") and m["reason"]
    assert recs[2]["code"] == 66 and recs[2]["owner"] is None


def test_file_urls_get_the_same_decisions_as_hdfs_paths(scene):
    names = ["fin.csv", "mkt.csv", "pub.csv", "fin-owner-only.csv", "alice-no-owner-read.csv", "nope.csv"]
    keep = ("decision", "reason", "owner", "group", "mode", "code")
    for policy in ("group", "posix"):
        via_hdfs = audit(scene.check(scene.alice, "--audit", "--policy", policy, *[scene.p(n) for n in names]))
        via_file = audit(scene.check(scene.alice, "--audit", "--policy", policy,
                                     *[f"file://{scene.local / n}" for n in names]))
        strip = [{k: (v.split(": ", 1)[-1] if k == "reason" else v) for k, v in x.items() if k in keep}
                 for x in via_hdfs]
        assert strip == [{k: (v.split(": ", 1)[-1] if k == "reason" else v) for k, v in x.items() if k in keep}
                         for x in via_file]
        assert {x["decision"] for x in via_hdfs} == {"allow", "deny", "error"}


def test_option_like_path_is_refused_before_any_launch(scene):
    before = scene.hadoop.launches()
    r = scene.check(scene.alice, "--", "-rm", scene.p("fin.csv"))
    assert r.returncode == 2 and b"starts with '-'" in r.stderr
    assert scene.hadoop.launches() == before


def test_option_like_path_in_filter_mode_is_refused_per_path(scene):
    r = scene.check(scene.alice, input=f"-rm\n{scene.p('fin.csv')}\n".encode())
    assert r.returncode == 2
    assert lines(r.stdout) == [scene.p("fin.csv")]
    assert b"starts with '-': -rm" in r.stderr


def test_a_thousand_paths_cost_at_most_two_hadoop_launches(scene):
    bulk = scene.local / "bulk"
    bulk.mkdir()
    os.chmod(bulk, 0o755)
    paths = []
    for i in range(1000):
        name = f"f{i:04d}"
        make_file(bulk, name, "root", scene.fin if i % 7 else scene.mkt, 0o640)
        paths.append(f"{scene.dir}/bulk/{name}")
    before = scene.hadoop.launches()
    r = scene.check(scene.alice, input=("\n".join(paths) + "\n").encode())
    assert scene.hadoop.launches() - before <= 2
    assert r.returncode == 77
    assert lines(r.stdout) == [p for i, p in enumerate(paths) if i % 7]
    assert len(lines(r.stderr)) == len(range(0, 1000, 7))
