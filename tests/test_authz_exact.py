"""authz-check decides on exactly what was given, for exactly who asks, under a policy the
caller cannot switch off. Real Linux users and groups (odd names included), the real
Hadoop FsShell over viewfs, and file:// paths."""

import grp
import json
import os
import random

import pytest

from harness.hadoop import site_file, world_tmp
from test_authz_cli import make_file


def jlines(b):
    return [json.loads(ln) for ln in b.decode().splitlines()]


@pytest.fixture
def odd(hadoop, hdfs_dir, linux_users):
    """erin is in the group literally named '<tag>fin team' (a space, as SSSD/AD names go) and
    in a group literally named '<N>', N an unused gid; she is not in '<tag>fin'."""
    u = linux_users
    erin = u.user("xena")
    fin = u.group("fin")
    team = u.odd_group("finteam", f"{fin} team", members=["xena"])
    used = {g.gr_gid for g in grp.getgrall()}
    n = next(g for g in random.sample(range(50000, 60000), 200) if g not in used and not _named(str(g)))
    digits = u.odd_group(f"num{n}", str(n), members=["xena"])
    hpath, local = hdfs_dir
    make_file(local, "fin.csv", "root", fin, 0o640)
    make_file(local, "team.csv", "root", team, 0o640)
    p = local / "unnamed-gid.csv"
    p.write_bytes(b"x")
    os.chown(p, 0, n)        # gid n has no group entry: it shows as the number
    os.chmod(p, 0o640)

    def check(*args, user=erin, input=None, env=None):
        return u.run(user, [u.cmd("authz-check"), *args], input=input, env=dict(hadoop.env(), **(env or {})))

    return type("Odd", (), dict(u=u, erin=erin, fin=fin, team=team, digits=digits, n=n, dir=hpath, local=local,
                                check=staticmethod(check), hadoop=hadoop))


def _named(name):
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def test_group_names_are_exact_and_local_files_compare_gids(odd):
    # HDFS path (names): membership of '<tag>fin team' is not membership of '<tag>fin'. (Hadoop's
    # local filesystem, behind viewfs here, cuts a group name at its space, so it reports team.csv's
    # group as '<tag>fin' too: also not erin's.)
    r = odd.check("--audit", f"{odd.dir}/fin.csv", f"{odd.dir}/team.csv")
    recs = jlines(r.stderr)
    assert [(x["group"], x["decision"]) for x in recs] == [(odd.fin, "deny")] * 2, recs
    assert odd.team in recs[1]["groups"] and odd.fin not in recs[1]["groups"]
    r = odd.check("--audit", *(f"file://{odd.local / n}" for n in ("fin.csv", "team.csv", "unnamed-gid.csv")))
    recs = jlines(r.stderr)
    # a group *named* after the number is not the unnamed gid of that number
    assert [x["decision"] for x in recs] == ["deny", "allow", "deny"], recs
    assert recs[2]["group"] == str(odd.n) and recs[2]["group_gid"] == odd.n and odd.digits in recs[2]["groups"]
    assert r.returncode == 77


def test_user_option_takes_a_name_not_a_uid(odd):
    import pwd

    uid = str(pwd.getpwnam(odd.erin).pw_uid)
    r = odd.check("--user", uid, f"file://{odd.local / 'team.csv'}", user="root")
    assert r.returncode == 2 and b"a user name, not a uid" in r.stderr
    r = odd.check("--user", odd.erin, f"file://{odd.local / 'team.csv'}", user="root")
    assert r.returncode == 0, r.stderr


def test_nul_listing_is_taken_byte_for_byte_and_line_listing_refuses_what_it_cannot_carry(odd):
    make_file(odd.local, "cr", "root", odd.team, 0o640)           # allowed
    make_file(odd.local, "cr\r", "root", odd.fin, 0o640)          # denied
    make_file(odd.local, "a\tb", "root", odd.team, 0o640)         # allowed, but holds a TAB
    cr, crr, tab = (f"file://{odd.local / n}" for n in ("cr", "cr\r", "a\tb"))
    r = odd.check("-0", input=f"{crr}\0".encode())
    assert (r.returncode, r.stdout) == (77, b"")   # was: exit 0, printing the allowed `cr`
    r = odd.check("-0", input=f"{cr}\0{tab}\0".encode())
    assert (r.returncode, r.stdout) == (0, f"{cr}\0{tab}\0".encode()), r.stderr
    # One path per line cannot carry a CR or a TAB (the next tool reads SRC<TAB>DEST): refused, not trimmed
    r = odd.check(input=f"{crr}\n{tab}\n{cr}\n".encode())
    assert r.returncode == 2 and r.stdout == f"{cr}\n".encode()
    err = r.stderr.decode()
    assert "carriage return" in err and "a TAB" in err and "\r" not in err and "\t" not in err


def test_audit_stderr_is_json_lines_only_and_relative_paths_are_audited_absolute(odd):
    home = odd.hadoop.root / "user" / odd.erin
    home.mkdir(exist_ok=True)
    os.chown(home, 0, 0)
    os.chmod(home, 0o755)
    make_file(home, "rel.csv", "root", odd.u.group("xenapg"), 0o640)
    missing = f"{odd.dir}/nope.csv"
    r = odd.check("--audit", "-0", input=f"rel.csv\0{odd.dir}/fin.csv\0{missing}\0-x\0".encode())
    recs = jlines(r.stderr)      # every stderr line is JSON: denials, errors and refusals too
    assert [x.get("decision") for x in recs] == ["allow", "deny", "error", "error"], recs
    assert recs[0]["path"] == f"/user/{odd.erin}/rel.csv" and recs[0]["given"] == "rel.csv"
    assert r.stdout.split(b"\0")[0] == f"/user/{odd.erin}/rel.csv".encode()
    r = odd.check("--audit", "--user", "h2s-nobody", "/x", user="root")
    assert r.returncode == 67 and jlines(r.stderr)[0]["event"] == "error"


def test_site_policy_cannot_be_switched_off_by_flags_or_environment(odd):
    import pwd

    team = f"file://{odd.local / 'team.csv'}"
    os.chmod(odd.local / "team.csv", 0o644)          # posix alone would allow anyone ("other")
    site = site_file(f"authz_policy = group\nallowed_groups = {odd.fin}\n")
    r = odd.check("--audit", "--policy", "posix", team, env={"HDFS2S3_SITE_CONF": site})
    (rec,) = jlines(r.stderr)
    assert r.returncode == 77 and rec["decision"] == "deny" and "not an allowed group" in rec["reason"]
    assert rec["policy"] == "group+posix" and rec["policy_from"] == [f"site:{site}", "flag:--policy"]
    assert rec["allowed_groups"] == [odd.fin]
    # a site file the user could have written is ignored, with a warning (JSON under --audit)
    mine = site_file("allowed_groups = nobody-at-all\n", owner=pwd.getpwnam(odd.erin).pw_uid)
    r = odd.check("--audit", team, env={"HDFS2S3_SITE_CONF": mine})
    recs = jlines(r.stderr)
    assert recs[0]["event"] == "warning" and "not owned by root" in recs[0]["message"]
    assert recs[1]["decision"] == "allow" and r.returncode == 0


def test_transfer_and_s3_put_sts_honour_the_site_policy_without_any_config_variable(kit, linux_users):
    from cryptography.fernet import Fernet

    from test_transfer_support import BUCKET, PREFIX

    u = linux_users
    erin = u.user("xena")
    d = world_tmp("h2s-site-t-")
    src = os.path.join(d, "mine.csv")
    with open(src, "wb") as f:
        f.write(b"erin's own")
    os.chown(src, 0, __import__("pwd").getpwnam(erin).pw_gid)
    os.chmod(src, 0o640)
    key = os.path.join(d, "k.key")
    with open(key, "wb") as f:
        f.write(Fernet.generate_key())
    os.chown(key, __import__("pwd").getpwnam(erin).pw_uid, -1)
    os.chmod(key, 0o600)
    kit.set_config("allowed_groups", u.group("fin"))          # the company config forbids erin's group
    site = site_file(f"config_prefix = {PREFIX}\nallowed_destinations = s3://{BUCKET}/in/*\n")
    env = {k: v for k, v in kit.env.items() if k != "HDFS2S3_CONFIG"}
    env["HDFS2S3_SITE_CONF"] = site
    args = ["--key-file", key, "--no-assume-role", "--no-metrics", "--notify", "none"]
    r = u.run(erin, [u.cmd("hdfs2s3kit"), "transfer", *args, f"file://{src}", f"s3://{BUCKET}/in/mine.csv"],
              env=env)
    assert r.returncode == 77 and b"not an allowed group" in r.stderr, r.stderr
    # another config prefix is refused, not used
    r = u.run(erin, [u.cmd("hdfs2s3kit"), "transfer", "--config", "/elsewhere", *args, f"file://{src}",
                     f"s3://{BUCKET}/in/mine.csv"], env=env)
    assert r.returncode == 78 and b"pins the config prefix" in r.stderr, r.stderr
    # a destination outside the site's patterns is refused before any upload
    kit.set_config("allowed_groups", u.group("xenapg"))
    r = u.run(erin, [u.cmd("hdfs2s3kit"), "transfer", *args, f"file://{src}", f"s3://{BUCKET}/out/mine.csv"],
              env=env)
    assert r.returncode == 77 and b"not an allowed destination" in r.stderr, r.stderr
    r = u.run(erin, [u.cmd("s3-put-sts"), "--no-assume-role", "--raw", f"s3://{BUCKET}/out/x"], env=env,
              input=b"data")
    assert r.returncode == 77 and b"not an allowed destination" in r.stderr, r.stderr
    assert kit.objects() == []


def test_transfer_listings_keep_names_exact(kit, tmp_path):
    from test_transfer_support import key_for

    odd = tmp_path / "q3\tfinal.csv"
    odd.write_bytes(b"tab in the name")
    lines = tmp_path / "lines.txt"
    lines.write_bytes(f"file://{odd}\n".encode())
    r = kit.transfer("--from-file", str(lines))
    assert r.returncode == 2 and b"a TAB, which a line listing cannot carry" in r.stderr, r.stderr
    nul = tmp_path / "nul.lst"
    nul.write_bytes(f"file://{odd}\0".encode())
    r = kit.transfer("--from-file", str(nul), "-0")
    assert r.returncode == 0, r.stderr
    assert kit.objects() == [key_for(odd)] and kit.decrypt(key_for(odd)) == b"tab in the name"
