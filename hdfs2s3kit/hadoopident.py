"""Which Hadoop identity the HDFS client acts as, and binding it to the Linux user.

The toolkit decides for the Linux user (identity.py: the effective uid and its NSS groups),
but HDFS reads as whatever identity the client presents:

- simple authentication: `HADOOP_USER_NAME`, else the login (OS) user;
- Kerberos: the job's delegation token for HDFS when `HADOOP_TOKEN_FILE_LOCATION` holds one
  (map tasks: the token's owner), else the default principal of the ticket cache
  (`hadoop.security.kerberos.ticket.cache.path`, `KRB5CCNAME`, `/tmp/krb5cc_<uid>`; Java reads
  FILE: caches only), mapped to a short name by `hadoop.security.auth_to_local` as Hadoop's
  KerberosName does (DEFAULT: the first component, in the default realm of krb5.conf);
- `HADOOP_PROXY_USER` on top: HDFS acts as that user, authenticated as the above.

`bind()` finds that identity *without starting a JVM* (the client's core-site.xml, the ticket
cache and the token file are read here; a few hundred microseconds), and refuses (77) unless
every identity involved is the Linux user, or the trusted site policy names the pair in
`allowed_hadoop_identities` (sitepolicy). No ticket, an expired one, or only an expired token
is one line ("no valid Kerberos ticket for USER: run kinit"), 77, before any JVM starts.
`hdfs.hadoop_argv` calls it before every Hadoop client launch, so nothing is read from HDFS
under an identity that is not bound.

Residual: the Hadoop client is a separate program. This module reads the configuration the
client is expected to read (`HADOOP_CONF_DIR`, else `$HADOOP_HOME/etc/hadoop`, else
`/etc/hadoop/conf`; the krb5.conf of `-Djava.security.krb5.conf` in HADOOP_CLIENT_OPTS /
HADOOP_OPTS, else `KRB5_CONFIG`, else /etc/krb5.conf); a `hadoop` wrapper that uses another
configuration is outside what it can see (docs/SECURITY.md). The JVM's own Kerberos failures
are still mapped to the same one line (`auth_failure`).
"""

import os
import re
import struct
import time

from . import errors

SIMPLE, KERBEROS, TOKEN = "simple", "kerberos", "token"
HDFS_TOKEN_KIND = "HDFS_DELEGATION_TOKEN"
_CONF_KEYS = ("hadoop.security.authentication", "hadoop.security.auth_to_local",
              "hadoop.security.auth_to_local.mechanism", "hadoop.security.kerberos.ticket.cache.path")


class HadoopIdentity:
    # Plain classes in this module, not dataclasses: `dataclasses` pulls in `inspect` (~15 ms of
    # a filter's 0.12 CPU-s start-up, issue 15). Nothing compares, hashes or copies them; a
    # changed identity is a new object (bind), never an attribute set later.
    __slots__ = ("name", "auth", "principal", "source", "real", "allowed_by")

    def __init__(self, name, auth, principal=None, source=None, real=None, allowed_by=None):
        self.name = name              # the short name HDFS acts as (permissions, owner of new files)
        self.auth = auth              # simple | kerberos | token
        self.principal = principal    # the Kerberos principal (ticket cache) or the token's owner
        self.source = source          # where it came from, for messages and audit
        self.real = real              # with HADOOP_PROXY_USER: the authenticated (real) short name
        self.allowed_by = allowed_by  # the site policy entry that allowed a name other than the Linux user

    def describe(self):
        who = self.name + (f" (principal {self.principal})" if self.principal else "")
        if self.real and self.real != self.name:
            who += f" as a proxy of {self.real}"
        return f"{who} from {self.source}"

    def record(self):
        """The fields records carry beside the Linux `user`."""
        return {"hadoop_user": self.name, "hadoop_principal": self.principal, "hadoop_auth": self.auth}


def empty_record():
    return {"hadoop_user": None, "hadoop_principal": None, "hadoop_auth": None}


# ---------------------------------------------------------------- the client's configuration

def conf_dir(env=None):
    env = os.environ if env is None else env
    if env.get("HADOOP_CONF_DIR"):
        return env["HADOOP_CONF_DIR"]
    if env.get("HADOOP_HOME"):
        return os.path.join(env["HADOOP_HOME"], "etc", "hadoop")
    return "/etc/hadoop/conf"


_xml_cache = {}


def _read_site(path):
    """{name: value} of a Hadoop *-site.xml for the keys we need ({} when it does not exist)."""
    try:
        st = os.stat(path)
    except OSError:
        return {}
    key = (path, st.st_mtime_ns, st.st_size)
    if key not in _xml_cache:
        import xml.etree.ElementTree as ET

        try:
            root = ET.parse(path).getroot()
        except (ET.ParseError, OSError) as e:
            raise errors.ConfigError(f"cannot read the Hadoop client configuration {path}: {e}") from None
        out = {}
        for prop in root.iter("property"):
            name, value = prop.findtext("name"), prop.findtext("value")
            if name and name.strip() in _CONF_KEYS and value is not None:
                out[name.strip()] = value.strip()
        _xml_cache.clear()
        _xml_cache[key] = out
    return _xml_cache[key]


def client_conf(env=None):
    """The settings of core-site.xml that decide the client's identity."""
    return _read_site(os.path.join(conf_dir(env), "core-site.xml"))


def _java_prop(env, name):
    for var in ("HADOOP_CLIENT_OPTS", "HADOOP_OPTS"):
        m = re.search(r"(?:^|\s)-D" + re.escape(name) + r"=(\S+)", env.get(var, ""))
        if m:
            return m.group(1).strip("'\"")
    return None


def default_realm(env=None):
    """The default realm the Java client uses: -Djava.security.krb5.realm, else krb5.conf's
    [libdefaults] default_realm (the file Java is pointed at, else KRB5_CONFIG, else /etc)."""
    env = os.environ if env is None else env
    realm = _java_prop(env, "java.security.krb5.realm")
    if realm:
        return realm
    conf = _java_prop(env, "java.security.krb5.conf")
    files = [conf] if conf else [p for p in env.get("KRB5_CONFIG", "").split(":") if p] + ["/etc/krb5.conf"]
    for path in files:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read(1 << 20)
        except OSError:
            continue
        section = None
        for line in text.splitlines():
            line = line.split("#", 1)[0].split(";", 1)[0].strip()
            if line.startswith("[") and line.endswith("]"):
                section = line[1:-1].strip()
            elif section == "libdefaults" and "=" in line:
                k, v = (x.strip() for x in line.split("=", 1))
                if k == "default_realm" and v:
                    return v
        return None
    return None


# ---------------------------------------------------------------- auth_to_local (Hadoop's KerberosName)

# Patterns as strings, compiled by re (and kept in its cache) on first use, not at import: every
# s3-put-sts run imports this module (sts.session_name) and most never parse a principal, while
# compiling these three costs ~0.5-1 ms of the 0.12 CPU-s start-up budget (issue 15).
_PRINCIPAL = r"^([^/@]+)(/([^/@]+))?(@([^/@]+))?$"
_RULE = r"\s*((DEFAULT)|(RULE:\[(\d*):([^\]]*)](\(([^)]*)\))?(s/([^/]*)/([^/]*)/(g)?)?))/?(L)?"


def _java_replacement(repl):
    """A Java Matcher replacement string ($1, \\x) as a Python one."""
    out, i = [], 0
    while i < len(repl):
        c = repl[i]
        if c == "\\" and i + 1 < len(repl):
            out.append(repl[i + 1].replace("\\", "\\\\"))
            i += 2
        elif c == "$":
            m = re.match(r"\$(\d+)", repl[i:])
            if not m:
                raise errors.ConfigError(f"auth_to_local: bad replacement {repl!r}")
            out.append(f"\\g<{m.group(1)}>")
            i += len(m.group(0))
        else:
            out.append(c.replace("\\", "\\\\"))
            i += 1
    return "".join(out)


def parse_rules(text):
    """hadoop.security.auth_to_local -> [rule]; a rule is None for DEFAULT or a tuple."""
    rules, rest = [], (text or "DEFAULT").strip()
    while rest:
        m = re.match(_RULE, rest)
        if not m or m.end() == 0:
            raise errors.ConfigError(f"hadoop.security.auth_to_local: invalid rule: {rest.split()[0]!r}")
        if m.group(2):
            rules.append(None)
        else:
            rules.append((int(m.group(4)), m.group(5), m.group(7), m.group(9), m.group(10),
                          m.group(11) == "g", m.group(12) == "L"))
        rest = rest[m.end():].lstrip()
    return rules


def _apply(rule, params, realm):
    if rule is None:
        return params[1] if realm is not None and params[0] == realm else None
    n, fmt, match, frm, to, repeat, lower = rule
    if len(params) - 1 != n:
        return None
    def param(m):
        if not m.group(1):
            raise errors.ConfigError(f"auth_to_local: bad format {fmt!r}")
        k = int(m.group(1))
        if k >= len(params):
            raise errors.ConfigError(f"auth_to_local: index {k} in {fmt!r} is out of range")
        return params[k]

    base = re.sub(r"\$(\d*)", param, fmt)
    if match is not None and not re.fullmatch(match, base):
        return None
    result = base
    if frm is not None:
        result = re.sub(frm, _java_replacement(to), base, count=0 if repeat else 1)
    return result.lower() if lower and result is not None else result


def short_name(principal, rules="DEFAULT", realm=None, mechanism="hadoop"):
    """The short name Hadoop maps PRINCIPAL to (KerberosName.getShortName)."""
    m = re.match(_PRINCIPAL, principal or "")
    if not m:
        raise errors.ConfigError(f"not a Kerberos principal: {errors.printable(repr(principal))}")
    service, host, prealm = m.group(1), m.group(3), m.group(5)
    if prealm is None:
        return service
    params = [prealm, service] + ([host] if host is not None else [])
    hadoop = (mechanism or "hadoop").lower() != "mit"
    for rule in parse_rules(rules) if isinstance(rules, str) or rules is None else rules:
        try:
            result = _apply(rule, params, realm)
        except re.error as e:
            raise errors.ConfigError(f"hadoop.security.auth_to_local: bad pattern in a rule: {e}") from None
        if result is not None:
            if hadoop and re.search(r"[/@]", result):
                raise errors.ConfigError(f"auth_to_local maps {principal} to {result!r}, not a short name")
            return result
    if hadoop:
        raise errors.ConfigError(f"no hadoop.security.auth_to_local rule applies to {principal}")
    return principal


# ---------------------------------------------------------------- MIT ticket caches (FILE:)

class TicketCache:
    __slots__ = ("name", "principal", "tgt_end", "tgt_start")

    def __init__(self, name, principal, tgt_end=None, tgt_start=None):
        self.name = name              # FILE:/path, as a message names it
        self.principal = principal    # the default principal
        self.tgt_end = tgt_end        # end time of the TGT for the principal's realm (None: no TGT)
        self.tgt_start = tgt_start


class _Buf:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, n):
        if self.pos + n > len(self.data):
            raise ValueError("truncated")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def u8(self):
        return self.take(1)[0]

    def u16(self):
        return struct.unpack(">H", self.take(2))[0]

    def u32(self):
        return struct.unpack(">I", self.take(4))[0]

    def counted(self):
        return self.take(self.u32())

    def done(self):
        return self.pos >= len(self.data)


def _principal(b):
    b.u32()                                   # name type
    count = b.u32()
    realm = b.counted().decode(errors="replace")
    comps = [b.counted().decode(errors="replace") for _ in range(count)]
    return "/".join(comps) + "@" + realm, comps, realm


def parse_ccache(data, name="cache"):
    """TicketCache from the bytes of an MIT FILE ccache (format versions 3 and 4)."""
    b = _Buf(data)
    version = b.u16()
    if version not in (0x0503, 0x0504):
        raise ValueError(f"unsupported ticket cache format {version:#06x}")
    if version == 0x0504:
        b.take(b.u16())                       # header tags (KDC time offset)
    principal, _comps, realm = _principal(b)
    tgt = None
    while not b.done():
        _client, _, _ = _principal(b)
        server, scomps, _srealm = _principal(b)
        b.u16()                               # key: enctype (twice in version 3), data
        if version == 0x0503:
            b.u16()
        b.counted()
        _auth, start, end, _renew = (b.u32() for _ in range(4))
        b.u8()                                # is_skey
        b.u32()                               # flags
        for _ in range(b.u32()):              # addresses
            b.u16()
            b.counted()
        for _ in range(b.u32()):              # authdata
            b.u16()
            b.counted()
        b.counted()                           # ticket
        b.counted()                           # second ticket
        if scomps == ["krbtgt", realm] and (tgt is None or end > tgt[1]):
            tgt = (start, end)
    return TicketCache(name, principal, tgt[1] if tgt else None, tgt[0] if tgt else None)


def ccache_name(conf, env=None):
    env = os.environ if env is None else env
    return (conf.get("hadoop.security.kerberos.ticket.cache.path") or env.get("KRB5CCNAME")
            or f"FILE:/tmp/krb5cc_{os.getuid()}")


def read_ccache(name):
    """TicketCache, or None when there is no cache; ConfigError for a kind Java cannot read."""
    kind, sep, rest = name.partition(":")
    if sep and kind.upper() == "FILE":
        path = rest
    elif sep and "/" not in kind:
        raise errors.ConfigError(f"the ticket cache {name} is not a file; Java's Kerberos reads FILE: caches "
                                 "only (set KRB5CCNAME=FILE:/tmp/krb5cc_$(id -u) and run kinit)")
    else:
        path = name
    try:
        with open(path, "rb") as f:
            data = f.read(1 << 22)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise errors.PermissionDeniedError(f"cannot read the ticket cache FILE:{path}: {e.strerror}",
                                           status="no_ticket") from None
    try:
        return parse_ccache(data, f"FILE:{path}")
    except (ValueError, struct.error) as e:
        raise errors.PermissionDeniedError(f"cannot read the ticket cache FILE:{path} ({e})",
                                           status="no_ticket") from None


# ---------------------------------------------------------------- Hadoop token files

def _vlong(b):
    first = struct.unpack(">b", b.take(1))[0]
    if first >= -112:
        return first
    neg = first < -120
    size = (-119 - first) if neg else (-111 - first)
    v = 0
    for byte in b.take(size - 1):
        v = (v << 8) | byte
    return ~v if neg else v


def _text(b):
    return b.take(_vlong(b)).decode(errors="replace")


def _pb_varint(b):
    shift = v = 0
    while True:
        byte = b.u8()
        v |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return v
        shift += 7


def _pb_fields(data):
    b = _Buf(data)
    while not b.done():
        tag = _pb_varint(b)
        field, wire = tag >> 3, tag & 7
        if wire == 0:
            yield field, _pb_varint(b)
        elif wire == 2:
            yield field, b.take(_pb_varint(b))
        elif wire == 1:
            yield field, b.take(8)
        elif wire == 5:
            yield field, b.take(4)
        else:
            raise ValueError(f"protobuf wire type {wire}")


class Token:
    __slots__ = ("kind", "service", "owner", "real_user", "max_date")

    def __init__(self, kind, service, owner=None, real_user=None, max_date=None):
        self.kind = kind
        self.service = service
        self.owner = owner
        self.real_user = real_user
        self.max_date = max_date      # seconds since the epoch: the token cannot be renewed past it


def _delegation_identifier(ident):
    """(owner, realUser, maxDate) of an AbstractDelegationTokenIdentifier (Writable form)."""
    b = _Buf(ident)
    if b.u8() != 0:
        raise ValueError("unknown delegation token identifier version")
    owner = _text(b)
    _text(b)                                          # renewer
    real = _text(b)
    _vlong(b)                                         # issue date
    max_date = _vlong(b)
    return owner, real or None, max_date / 1000.0


def parse_token_file(data):
    """[Token] of a Hadoop Credentials file ("HDTS", Writable or protobuf form)."""
    if data[:4] != b"HDTS":
        raise ValueError("not a Hadoop token file")
    version, body = data[4], data[5:]
    raw = []    # (identifier, kind, service)
    if version == 0:
        b = _Buf(body)
        for _ in range(_vlong(b)):
            _text(b)                                  # alias
            ident = b.take(_vlong(b))
            b.take(_vlong(b))                         # password: never kept
            raw.append((ident, _text(b), _text(b)))
    elif version == 1:
        b = _Buf(body)
        msg = b.take(_pb_varint(b))                   # a length-delimited CredentialsProto
        for field, kv in _pb_fields(msg):
            if field != 1:
                continue
            for f2, tok in _pb_fields(kv):
                if f2 == 2:
                    t = dict(_pb_fields(tok))
                    raw.append((t.get(1, b""), t.get(3, b"").decode(errors="replace"),
                                t.get(4, b"").decode(errors="replace")))
    else:
        raise ValueError(f"unknown token file version {version}")
    out = []
    for ident, kind, service in raw:
        if kind == HDFS_TOKEN_KIND:
            owner, real, max_date = _delegation_identifier(ident)
            out.append(Token(kind, service, owner, real, max_date))
        else:
            out.append(Token(kind, service))
    return out


def read_tokens(env=None):
    """(path, [HDFS delegation Token]) of HADOOP_TOKEN_FILE_LOCATION, or (None, [])."""
    env = os.environ if env is None else env
    path = env.get("HADOOP_TOKEN_FILE_LOCATION")
    if not path:
        return None, []
    try:
        with open(path, "rb") as f:
            data = f.read(1 << 22)
    except OSError as e:
        raise errors.PermissionDeniedError(f"cannot read the token file {path} (HADOOP_TOKEN_FILE_LOCATION): "
                                           f"{e.strerror}", status="no_ticket") from None
    try:
        tokens = parse_token_file(data)
    except (ValueError, struct.error, IndexError) as e:
        raise errors.PermissionDeniedError(f"cannot read the token file {path} (HADOOP_TOKEN_FILE_LOCATION): "
                                           f"{e}", status="no_ticket") from None
    return path, [t for t in tokens if t.kind == HDFS_TOKEN_KIND]


# ---------------------------------------------------------------- the identity, and binding it

def linux_user():
    from . import identity

    return identity.audit_name()


def no_ticket(why, user=None):
    """The one line for a client that cannot authenticate (77)."""
    return errors.PermissionDeniedError(f"no valid Kerberos ticket for {user or linux_user()}: run kinit ({why})",
                                        status="no_ticket")


def current(env=None, now=None):
    """The HadoopIdentity the client would present now; raises 77 when, under Kerberos, it
    has neither a usable HDFS token nor a valid ticket."""
    env = os.environ if env is None else env
    conf = client_conf(env)
    auth = (conf.get("hadoop.security.authentication") or SIMPLE).strip().lower()
    proxy = env.get("HADOOP_PROXY_USER") or None
    if auth != KERBEROS:
        real = env.get("HADOOP_USER_NAME") or None
        source = "HADOOP_USER_NAME" if real else "the login user"
        real = real or linux_user()
        if proxy:
            return HadoopIdentity(proxy, SIMPLE, None, f"HADOOP_PROXY_USER (as {source} {real})", real=real)
        return HadoopIdentity(real, SIMPLE, None, source)
    now = time.time() if now is None else now
    rules = conf.get("hadoop.security.auth_to_local") or "DEFAULT"
    mech = conf.get("hadoop.security.auth_to_local.mechanism") or "hadoop"
    realm = default_realm(env)
    path, tokens = read_tokens(env)
    if tokens:
        owners = {t.owner for t in tokens}
        live = [t for t in tokens if t.max_date is None or t.max_date > now]
        if not live:
            raise no_ticket(f"the HDFS delegation token in {path} expired")
        if len(owners) > 1:
            raise errors.PermissionDeniedError(f"the token file {path} holds HDFS tokens of several users "
                                               f"({', '.join(sorted(owners))})", status="identity_mismatch")
        tok = live[0]
        name = short_name(tok.owner, rules, realm, mech)
        real = short_name(tok.real_user, rules, realm, mech) if tok.real_user else None
        ident = HadoopIdentity(name, TOKEN, tok.owner, f"the HDFS delegation token in {path}", real=real)
    else:
        cc_name = ccache_name(conf, env)
        cc = read_ccache(cc_name)
        if cc is None:
            raise no_ticket(f"no ticket cache {cc_name}")
        if cc.tgt_end is None:
            raise no_ticket(f"{cc.name} holds no ticket-granting ticket for {cc.principal}")
        if cc.tgt_end <= now:
            when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(cc.tgt_end))
            raise no_ticket(f"the ticket of {cc.principal} in {cc.name} expired at {when}")
        ident = HadoopIdentity(short_name(cc.principal, rules, realm, mech), KERBEROS, cc.principal,
                               f"the ticket cache {cc.name}")
    if proxy:
        ident = HadoopIdentity(proxy, ident.auth, ident.principal, f"HADOOP_PROXY_USER (with {ident.source})",
                               real=ident.name)
    return ident


_bound = {}


def bound():
    """The identity bind() last accepted in this process (None if no HDFS access yet)."""
    return _bound.get("id")


def bind(env=None):
    """The HadoopIdentity, checked against the Linux user: every identity involved (the one
    HDFS acts as, and the authenticated one under a proxy) must be the Linux user or allowed
    for it by the site policy (`allowed_hadoop_identities`). Else 77, before any read."""
    from . import sitepolicy

    ident = current(env)
    me = linux_user()
    allowed_by = None
    for name in dict.fromkeys(n for n in (ident.name, ident.real) if n):
        if name == me:
            continue
        where = sitepolicy.hadoop_identity_allowed(me, name)
        if where is None:
            raise errors.PermissionDeniedError(
                f"the Hadoop identity {ident.describe()} is not {me}, who runs this: refusing to act in HDFS "
                f"as someone else (a site policy can allow it: allowed_hadoop_identities = {me}:{name})",
                status="identity_mismatch")
        allowed_by = where
    if allowed_by:
        ident = HadoopIdentity(ident.name, ident.auth, ident.principal, ident.source, ident.real, allowed_by)
    _bound["id"] = ident
    return ident


def who(linux=None):
    """Both identities for STS -> (SourceIdentity, session-name head): `alice` when HDFS knows
    this process by the same plain name, else `alice+PRINCIPAL` (`+NAME` without a principal)
    and `alice+NAME`."""
    linux = linux or linux_user()
    ident = bound()
    if ident is None:
        # Not bound yet (the mapper's manifest session starts before its first read): who the
        # client would be; a failure here is bind()'s to report, before any read.
        try:
            ident = current()
        except errors.KitError:
            ident = None
    if ident is None or (ident.principal is None and ident.name == linux and not ident.real):
        return linux, linux
    return f"{linux}+{ident.principal or ident.name}", f"{linux}+{ident.name}"


# The JVM's words for a client that could not authenticate (SaslRpcClient, GSS, Krb5LoginModule).
_AUTH_FAILURE = (r"Client cannot authenticate via|GSS initiate failed|Failed to find any Kerberos tgt"
                 r"|Ticket expired|can.t be found in cache|Clock skew too great"
                 r"|Unable to obtain password from user|KrbException")


def auth_failure(stderr_text):
    """The one-line 77 for a Hadoop client's stderr that says it could not authenticate, else None."""
    m = re.search(_AUTH_FAILURE, stderr_text or "")
    if not m:
        return None
    return no_ticket(f"HDFS refused the client: {m.group(0)}")
