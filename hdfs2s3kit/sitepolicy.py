"""The mandatory site policy (/etc/hdfs2s3kit/site.conf) and how policies combine.

A root-owned file on the edge node can pin the config prefix, the authz rules,
`allowed_groups`, the allowed S3 destinations and the Hadoop client. It is
trusted only if it and every folder above it are owned by root and not
writable by others (a sticky folder such as /tmp counts as safe); otherwise it
is ignored with a warning. Format: `KEY = VALUE` lines, `#` comments:

    config_prefix = /hdfs2s3/prod
    authz_policy = group            # group, posix, or group+posix (all must allow)
    allowed_groups = fin, domain users
    allowed_destinations = s3://data-lake/hdfs/*, s3://audit/exports/*
    hadoop_cmd = /usr/bin/hadoop
    allowed_hadoop_identities = yarn:*, etl:svc-etl

`allowed_hadoop_identities` (LINUX_USER:HADOOP_USER pairs, `*` for any) is the one
loosening, so only site files can say it: by default the Hadoop identity the HDFS client
acts as (hadoopident: HADOOP_USER_NAME, the Kerberos principal's short name, a delegation
token's owner) must be the Linux user who runs the tool. A pair counts only if every site
file that sets the key names it.

Layers only tighten: a decision must satisfy every rule any layer names (site,
the SSM config, --policy); `allowed_groups` is the intersection of every layer
that sets it; a destination must match a pattern of every layer that sets
`allowed_destinations`; a pinned config prefix or Hadoop client cannot be
replaced by flags or the environment.

`HDFS2S3_SITE_CONF` names one more site file (tests use it, so they need not
write /etc). It passes the same root-ownership checks and is read *in addition
to* the default file, so it can only add restrictions: a user gains nothing by
setting or unsetting it.

This module imports nothing but errors: the Hadoop runner and the config
loader consult it.
"""

import fnmatch
import os
import stat as statmod
import sys

from . import errors

DEFAULT_PATH = "/etc/hdfs2s3kit/site.conf"
EXTRA_ENV = "HDFS2S3_SITE_CONF"
RULES = ("group", "posix")
KEYS = ("config_prefix", "authz_policy", "allowed_groups", "allowed_destinations", "hadoop_cmd",
        "allowed_hadoop_identities")

# Set by the command runner so a warning follows the command's stderr format (JSON under --audit).
on_warning = None


def warn(message):
    if on_warning is not None:
        on_warning(message)
    else:
        print(f"hdfs2s3kit: warning: {errors.printable(message)}", file=sys.stderr, flush=True)


class SiteFile:
    # Plain classes here, not dataclasses: `dataclasses` pulls in `inspect` (~15 ms of a
    # filter's 0.12 CPU-s start-up, issue 15). Nothing compares, hashes or copies them, and
    # nothing sets an attribute after __init__ (the parsed files are cached per process).
    __slots__ = ("path", "config_prefix", "rules", "allowed_groups", "destinations", "hadoop_cmd",
                 "hadoop_identities")

    def __init__(self, path, config_prefix=None, rules=(), allowed_groups=None, destinations=None,
                 hadoop_cmd=None, hadoop_identities=None):
        self.path = path
        self.config_prefix = config_prefix
        self.rules = rules
        self.allowed_groups = allowed_groups          # None: this file does not restrict groups
        self.destinations = destinations              # None: this file does not restrict destinations
        self.hadoop_cmd = hadoop_cmd
        self.hadoop_identities = hadoop_identities    # ((linux, hadoop), ...); None: this file does not say


def parse_rules(text, where, exc=errors.ConfigError):
    """'group', 'posix', 'group+posix' -> ('group', 'posix') in canonical order."""
    parts = [p.strip() for p in str(text).replace(",", "+").split("+") if p.strip()]
    bad = [p for p in parts if p not in RULES]
    if bad or not parts:
        raise exc(f"{where}: unknown policy {text!r} (choose from: group, posix, group+posix)")
    return tuple(r for r in RULES if r in parts)


def split_list(text):
    """Comma-separated names, each kept whole (group names may hold spaces)."""
    return tuple(dict.fromkeys(x.strip() for x in str(text).split(",") if x.strip()))


def trusted(path):
    """None if PATH and every folder above it are root-owned and not writable by others
    (a sticky folder is safe), else why not."""
    try:
        st = os.stat(path)
    except OSError as e:
        return e.strerror
    if not statmod.S_ISREG(st.st_mode):
        return "not a regular file"
    if st.st_uid != 0:
        return "not owned by root"
    if st.st_mode & 0o022:
        return "writable by group or others"
    d = os.path.dirname(os.path.realpath(path))
    while True:
        dst = os.stat(d)
        if dst.st_uid != 0:
            return f"folder {d} is not owned by root"
        if dst.st_mode & 0o022 and not dst.st_mode & statmod.S_ISVTX:
            return f"folder {d} is writable by group or others"
        if d == "/":
            return None
        d = os.path.dirname(d)


def parse(path, text):
    vals = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        k, sep, v = line.partition("=")
        k, v = k.strip(), v.strip()
        if not sep or k not in KEYS:
            raise errors.ConfigError(f"site policy {path}:{n}: expected KEY = VALUE with KEY one of "
                                     f"{', '.join(KEYS)}")
        vals[k] = v
    where = f"site policy {path}"
    prefix = vals.get("config_prefix") or None
    if prefix is not None:
        prefix = "/" + prefix.strip("/")
    dests = split_list(vals["allowed_destinations"]) if "allowed_destinations" in vals else None
    for d in dests or ():
        if not d.startswith("s3://"):
            raise errors.ConfigError(f"{where}: allowed_destinations: not an s3:// pattern: {d!r}")
    idents = None
    if "allowed_hadoop_identities" in vals:
        idents = []
        for pair in split_list(vals["allowed_hadoop_identities"]):
            linux, sep, hadoop = (x.strip() for x in pair.partition(":"))
            if not sep or not linux or not hadoop:
                raise errors.ConfigError(f"{where}: allowed_hadoop_identities: expected LINUX_USER:HADOOP_USER, "
                                         f"got {pair!r}")
            idents.append((linux, hadoop))
        idents = tuple(idents)
    return SiteFile(
        hadoop_identities=idents,
        path=path, config_prefix=prefix,
        rules=parse_rules(vals["authz_policy"], where) if vals.get("authz_policy") else (),
        allowed_groups=split_list(vals["allowed_groups"]) if "allowed_groups" in vals else None,
        destinations=dests, hadoop_cmd=vals.get("hadoop_cmd") or None)


_cache = {}


def site_files():
    """The trusted site files in force (default first), read once per process."""
    paths = [DEFAULT_PATH]
    extra = os.environ.get(EXTRA_ENV)
    if extra and os.path.abspath(extra) != DEFAULT_PATH:
        paths.append(os.path.abspath(extra))
    key = tuple(paths)
    if key not in _cache:
        out = []
        for p in paths:
            if p == DEFAULT_PATH and not os.path.lexists(p):
                continue
            why = trusted(p)
            if why is not None:
                warn(f"site policy {p} ignored: {why}")
                continue
            try:
                with open(p, encoding="utf-8") as f:
                    text = f.read(1 << 20)
            except (OSError, UnicodeDecodeError) as e:
                raise errors.ConfigError(f"site policy {p}: cannot read it: {getattr(e, 'strerror', e)}") from None
            out.append(parse(p, text))
        _cache[key] = tuple(out)
    return _cache[key]


def clear_cache():
    _cache.clear()


def _pinned(attr, what):
    vals = {(getattr(s, attr), s.path) for s in site_files() if getattr(s, attr)}
    if len({v for v, _ in vals}) > 1:
        raise errors.ConfigError(f"site policies disagree on {what}: "
                                 + "; ".join(f"{p} says {v}" for v, p in sorted(vals)))
    return next(iter(vals), (None, None))


def pinned_prefix():
    """(prefix, site file) when a site file pins the config prefix, else (None, None)."""
    return _pinned("config_prefix", "config_prefix")


def pinned_hadoop_cmd():
    return _pinned("hadoop_cmd", "hadoop_cmd")


def hadoop_identity_allowed(linux, hadoop):
    """The site file(s) allowing Linux user LINUX to act in HDFS as HADOOP ("a, b"), or None.
    Every site file that sets allowed_hadoop_identities must name the pair (`*` matches any)."""
    files = [s for s in site_files() if s.hadoop_identities is not None]
    if not files:
        return None
    for s in files:
        if not any(lx in (linux, "*") and hx in (hadoop, "*") for lx, hx in s.hadoop_identities):
            return None
    return ", ".join(f"site:{s.path}" for s in files)


# ---------------------------------------------------------------- the policy a decision uses

class Policy:
    """What a decision must satisfy: every rule, and (when not None) a group among allowed_groups.
    `sources` says where each restriction came from, for the audit record."""

    __slots__ = ("rules", "allowed_groups", "sources", "destinations")

    def __init__(self, rules=("group",), allowed_groups=None, sources=("default",), destinations=()):
        self.rules = rules
        self.allowed_groups = allowed_groups
        self.sources = sources
        self.destinations = destinations      # ((source, patterns), ...)

    @property
    def name(self):
        return "+".join(self.rules)

    def check_destination(self, bucket, key):
        """Raise 77 unless s3://BUCKET/KEY matches a pattern of every layer that restricts destinations."""
        url = f"s3://{bucket}/{key}"
        for source, patterns in self.destinations:
            if not any(fnmatch.fnmatchcase(url, p) for p in patterns):
                raise errors.PermissionDeniedError(
                    f"{url} is not an allowed destination ({source} allows: {', '.join(patterns)})")


def _intersect(current, more):
    if more is None:
        return current
    if current is None:
        return tuple(more)
    return tuple(g for g in current if g in more)


def effective(*, config=None, flag_policy=None, allowed_groups=None):
    """The Policy from the site files, the SSM config (if loaded) and the caller's tightening
    (`--policy`, an `allowed_groups` argument): every layer only adds restrictions."""
    rules, groups, sources, dests = set(), None, [], []
    for s in site_files():
        tag = f"site:{s.path}"
        if s.rules or s.allowed_groups is not None or s.destinations is not None:
            sources.append(tag)
        rules.update(s.rules)
        groups = _intersect(groups, s.allowed_groups)
        if s.destinations is not None:
            dests.append((tag, s.destinations))
    if config is not None and getattr(config, "prefix", None):
        where = f"config {config.where('authz_policy')}"
        cfg_rules = parse_rules(config.get("authz_policy"), where) if config.get("authz_policy") else ()
        cfg_groups = split_list(config.get("allowed_groups")) if config.get("allowed_groups") else None
        if cfg_rules or cfg_groups is not None:
            sources.append(f"ssm:{config.prefix}")
        rules.update(cfg_rules)
        groups = _intersect(groups, cfg_groups)
    if flag_policy:
        rules.update(parse_rules(flag_policy, "--policy", errors.UsageError))
        sources.append("flag:--policy")
    if allowed_groups:   # an empty list from a caller restricts nothing, as in the config
        groups = _intersect(groups, tuple(allowed_groups))
        sources.append("caller:allowed_groups")
    if not rules:
        rules = {"group"}
    if not sources:
        sources = ["default"]
    return Policy(tuple(r for r in RULES if r in rules), groups, tuple(sources), tuple(dests))
