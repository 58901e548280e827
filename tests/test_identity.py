"""identity.lookup: a user's groups as NSS gives them, through a real `id`, for real Linux users."""

import os
import subprocess

import pytest

from hdfs2s3kit import errors, identity


def test_groups_of_a_real_user_are_its_primary_and_supplementary_groups(linux_users):
    u = linux_users
    name = u.user("erin", ["ops", "fin"])
    ident = identity.lookup(name)
    assert ident.name == name
    assert set(ident.groups) == {u.group("erinpg"), u.group("ops"), u.group("fin")}
    assert ident.groups[0] == u.group("erinpg")  # primary first, as id -Gn prints it


def test_group_added_later_is_seen_without_caching(linux_users):
    u = linux_users
    name = u.user("frank")
    assert u.group("late") not in identity.lookup(name).groups
    subprocess.run(["usermod", "-a", "-G", u.group("late"), name], check=True)
    assert u.group("late") in identity.lookup(name).groups


def test_default_is_the_effective_user_not_the_USER_variable(linux_users):
    u = linux_users
    name = u.user("gina", ["fin"])
    code = "from hdfs2s3kit import identity; i = identity.lookup(); print(i.name, *i.groups)"
    r = u.run(name, [os.path.join(u.bindir, "python"), "-c", code], env={"USER": "root", "LOGNAME": "root"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().split() == [name, u.group("ginapg"), u.group("fin")]


def test_unknown_user_is_67():
    with pytest.raises(errors.NoUserError) as e:
        identity.lookup("h2s-nobody-here")
    assert e.value.code == 67 and e.value.message == "unknown user: h2s-nobody-here"


@pytest.mark.parametrize("bad", ["-Gn", "", "a/b", "x\ny", "0"])
def test_names_that_could_be_options_or_are_impossible_are_refused(bad):
    with pytest.raises(errors.UsageError):
        identity.lookup(bad)
