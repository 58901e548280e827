"""`config push/show/check`: write a KEY=VALUE template to SSM, print the
resolved config with secrets masked, and try every value for real.

The template format (config.env.example): one KEY=VALUE per line, `#`
comments and blank lines ignored, optional matching quotes around the value.
An empty value removes the parameter (SSM cannot hold empty strings); keys
absent from the file are left alone.
"""

import re

from . import aws, config, errors, keys, metrics, notifications, sts

_LINE_RE = re.compile(r"^(?:export\s+)?([a-z][a-z0-9_]*)\s*=\s*(.*)$")
_REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_ROLE_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
CHECK_CLIENT = {"retries": 2, "connect_timeout": 3, "read_timeout": 10}


# -- the template ------------------------------------------------------
def parse_template(text, source="template"):
    """KEY=VALUE text -> {key: value} in file order. ConfigError names the line."""
    out = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _LINE_RE.match(line)
        if not m:
            raise errors.ConfigError(f"{source}:{n}: expected KEY=VALUE with a lower-case key, got {line[:60]!r}")
        key, value = m.group(1), m.group(2).strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        if key in out:
            raise errors.ConfigError(f"{source}:{n}: {key} is set twice")
        if key == config.KEYS_SUBPATH:
            raise errors.ConfigError(f"{source}:{n}: 'keys' is reserved for key material (use `keys create`)")
        out[key] = value
    return out


def value_problems(values):
    """{key: why invalid} for the values given (absent/empty values are not checked here)."""
    bad = {}

    def check(key, ok, why):
        v = values.get(key)
        if v not in (None, "") and not ok(v):
            bad[key] = why

    def positive_int(lo, hi):
        return lambda v: v.isdigit() and lo <= int(v) <= hi

    check("bucket", _BUCKET_RE.match, "not a valid S3 bucket name")
    check("region", _REGION_RE.match, "not an AWS region name (like us-east-1)")
    check("role_arn", _ROLE_RE.match, "not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)")
    check("sns_topic_arn", lambda v: notifications.topic_problem(v) is None, "not an SNS topic ARN")
    check("cloudwatch_namespace", lambda v: metrics.namespace_problem(v) is None,
          metrics.namespace_problem(values.get("cloudwatch_namespace")) or "")
    check("notify_on", lambda v: v in config.NOTIFY_MODES, f"one of {', '.join(config.NOTIFY_MODES)}")
    check("authz_policy", lambda v: v in ("group", "posix"), "group or posix")
    check("part_size", positive_int(5 * 1024**2, 5 * 1024**3), "a whole number of bytes, 5 MiB to 5 GiB (S3 limits)")
    check("concurrency", positive_int(1, 256), "a whole number from 1 to 256")
    check("fernet_key_version", positive_int(1, 10**9), "a key version number")
    check("prefix", lambda v: not v.startswith("/"), "must not start with '/'")
    check("fernet_key_param", lambda v: v.startswith("/"), "an SSM parameter name starting with '/'")
    return bad


# -- push --------------------------------------------------------------
class Change:
    __slots__ = ("name", "action", "old", "new", "secret")

    def __init__(self, name, action, old, new, secret):
        self.name, self.action, self.old, self.new, self.secret = name, action, old, new, secret

    def line(self):
        show = (lambda v: config.MASK) if self.secret else repr
        if self.name == "fernet_key_param" and self.action in ("change", "remove"):
            return (f"~ {self.name}: {show(self.old)} -> {show(self.new or '(default)')}  "
                    "WARNING: objects encrypted under the old parameter need it to decrypt")
        if self.action == "add":
            return f"+ {self.name} = {show(self.new)}" + (" (SecureString)" if self.secret else "")
        if self.action == "change":
            return f"~ {self.name}: {show(self.old)} -> {show(self.new)}"
        if self.action == "remove":
            return f"- {self.name} (was {show(self.old)})"
        return f"  {self.name} = {show(self.old)}"


def plan(current, desired):
    """current: {name: (value, type)} from SSM; desired: {name: value}. -> [Change] in file order."""
    changes = []
    for name, new in desired.items():
        old, typ = current.get(name, (None, None))
        # a value stays SecureString once it is one: never downgrade a secret
        secret = config.is_secret(name) or typ == "SecureString"
        if new == "":
            action = "remove" if old is not None else "same"
        elif old is None:
            action = "add"
        elif old != new or (secret and typ != "SecureString"):
            action = "change"
        else:
            action = "same"
        changes.append(Change(name, action, old, new or None, secret))
    return changes


def prepare_push(prefix, text, *, source, session=None, allow_unknown=False):
    """Read the template and SSM; validate the result. -> (ssm client, prefix, [Change])."""
    prefix = config.resolve_prefix(prefix)
    if prefix is None:
        raise config.no_config_error()
    desired = parse_template(text, source)
    unknown = [k for k in desired if k not in config.KNOWN_KEYS]
    if unknown and not allow_unknown:
        raise errors.ConfigError(f"{source}: unknown key(s): {', '.join(unknown)} (see docs/CONFIG.md; "
                                 "--allow-unknown stores them anyway)")
    managed = [k for k in config.MANAGED if desired.get(k)]
    if managed:
        raise errors.ConfigError(f"{source}: {', '.join(managed)} is set by `hdfs2s3kit keys create/rotate`, "
                                 "not by a template")
    bad = value_problems(desired)
    if bad:
        raise errors.ConfigError(f"{source}: invalid value(s): " + "; ".join(f"{k}: {w}" for k, w in bad.items()))
    ssm = aws.client(session or aws.base_session(), "ssm")
    try:
        current = config.fetch_parameter_types(ssm, prefix)
    except Exception as e:  # noqa: BLE001
        raise aws.as_kit_error(e, f"reading config {prefix} from SSM") from None
    merged = {k: v for k, (v, _t) in current.items()}
    merged.update(desired)
    kp = desired.get("fernet_key_param")
    if kp and kp.startswith(prefix + "/") and not kp.startswith(f"{prefix}/{config.KEYS_SUBPATH}/"):
        raise errors.ConfigError(f"{source}: fernet_key_param must be under {prefix}/{config.KEYS_SUBPATH}/ "
                                 "or outside the prefix, or key material would be read as config")
    missing = [k for k in config.REQUIRED if k not in config.MANAGED and merged.get(k) in (None, "")]
    if missing:
        raise errors.ConfigError(f"config {prefix}: missing required value(s): {', '.join(missing)}")
    return ssm, prefix, plan(current, desired)


def apply(ssm, prefix, changes, *, kms_key_id=None):
    """Write the planned changes; returns how many parameters were written or removed."""
    done = 0
    for c in changes:
        name = f"{prefix}/{c.name}"
        try:
            if c.action in ("add", "change"):
                kw = {"Name": name, "Value": c.new, "Overwrite": c.action == "change",
                      "Type": "SecureString" if c.secret else "String",
                      "Description": f"hdfs2s3kit: {config.KNOWN_KEYS.get(c.name, 'custom value')}"[:1024]}
                if kms_key_id and c.secret:
                    kw["KeyId"] = kms_key_id
                ssm.put_parameter(**kw)
            elif c.action == "remove":
                ssm.delete_parameter(Name=name)
            else:
                continue
        except Exception as e:  # noqa: BLE001
            raise aws.as_kit_error(e, f"writing {name} ({done} change(s) already applied)") from None
        done += 1
    config.clear_cache()
    return done


# -- show --------------------------------------------------------------
def show_rows(cfg):
    """[(name, printable value or '', note)] for the documented keys, then any others."""
    rows = []
    for name in config.KNOWN_KEYS:
        note = []
        if cfg.get(name) is not None:
            shown = cfg.masked(name)
            if cfg.is_secret(name):
                note.append("secret")
        else:
            shown = cfg.value(name)
            if name in config.REQUIRED:
                note.append("MISSING (required)" + ("; run `hdfs2s3kit keys create`"
                                                    if name in config.MANAGED else ""))
            elif shown not in (None, ""):
                note.append("default")
            shown = "" if shown is None else shown
        rows.append((name, shown, ", ".join(note)))
    for name, _v in sorted(cfg.items()):
        if name not in config.KNOWN_KEYS:
            rows.append((name, cfg.masked(name) or "", "unknown key"))
    if (cfg.get("fernet_key_version") or "").isdigit():
        rows.append(("active_key_id", keys.key_id(cfg.key_param(), cfg.get("fernet_key_version")), "derived"))
    return rows


# -- check -------------------------------------------------------------
def check(cfg, session=None):
    """Try each value for real. -> [(check, ok, detail)]; details never hold secrets."""
    session = session or aws.base_session(region=cfg.get("region"))
    rows = []

    def row(name, ok, detail):
        rows.append((name, bool(ok), str(detail).replace("\n", " ")[:300]))

    missing = cfg.missing()
    row("config", not missing, f"{cfg.prefix}: {len(list(cfg.items()))} value(s)" if not missing
        else f"{cfg.prefix}: missing {', '.join(missing)}")
    bad = value_problems(dict(cfg.items()))
    row("values", not bad, "all well-formed" if not bad else "; ".join(f"{k}: {w}" for k, w in bad.items()))
    region = cfg.get("region")
    row("region", region and _REGION_RE.match(region), region or "not set")
    role_session = _check_role(cfg, session, row)
    _check_bucket(cfg, role_session or session, "as the role" if role_session else "with base credentials", row)
    _check_topic(cfg, session, row)
    _check_key(cfg, row)
    ns = cfg.value("cloudwatch_namespace")
    problem = metrics.namespace_problem(ns)
    row("namespace", not problem, problem or ns)
    return rows


def _client(session, service, region=None):
    return aws.client(session, service, max_pool=2, region=region, **CHECK_CLIENT)


def _err(e, what):
    return aws.as_kit_error(e, what).message


def _check_role(cfg, session, row):
    import boto3

    role = cfg.get("role_arn")
    if not role:
        row("role", False, "role_arn not set")
        return None
    name = sts.session_name()
    kw = {"RoleArn": role, "RoleSessionName": name, "DurationSeconds": 900}
    if cfg.get("role_external_id"):
        kw["ExternalId"] = cfg.get("role_external_id")
    try:
        creds = _client(session, "sts").assume_role(**kw)["Credentials"]
    except Exception as e:  # noqa: BLE001
        row("role", False, _err(e, f"AssumeRole {role}"))
        return None
    row("role", True, f"assumed {role} as session {name}")
    return boto3.session.Session(aws_access_key_id=creds["AccessKeyId"], region_name=session.region_name,
                                 aws_secret_access_key=creds["SecretAccessKey"],
                                 aws_session_token=creds["SessionToken"])


def _check_bucket(cfg, session, how, row):
    bucket = cfg.get("bucket")
    if not bucket:
        row("bucket", False, "bucket not set")
        return
    try:
        head = _client(session, "s3").head_bucket(Bucket=bucket)
    except Exception as e:  # noqa: BLE001
        row("bucket", False, _err(e, f"HeadBucket s3://{bucket} ({how})"))
        return
    where = head.get("BucketRegion") or head["ResponseMetadata"]["HTTPHeaders"].get("x-amz-bucket-region")
    if where and cfg.get("region") and where != cfg.get("region"):
        row("bucket", False, f"s3://{bucket} is in {where}, but region is {cfg.get('region')}")
    else:
        row("bucket", True, f"s3://{bucket} reachable {how}" + (f" (in {where})" if where else ""))


def _check_topic(cfg, session, row):
    topic = cfg.get("sns_topic_arn")
    problem = notifications.topic_problem(topic)
    if problem:
        row("topic", False, problem)
        return
    try:
        _client(session, "sns", topic.split(":")[3]).get_topic_attributes(TopicArn=topic)
    except Exception as e:  # noqa: BLE001
        row("topic", False, _err(e, f"GetTopicAttributes {topic}"))
        return
    row("topic", True, f"{topic} exists")


def _check_key(cfg, row):
    version = cfg.get("fernet_key_version")
    if not version:
        row("key", False, "no active key version: run `hdfs2s3kit keys create`")
        return
    kid = keys.key_id(cfg.key_param(), version)
    try:  # the key lives in the config's SSM region (the environment's), like the config
        keys.probe(_client(aws.base_session(), "ssm"), cfg.key_param(), version)
    except Exception as e:  # noqa: BLE001
        row("key", False, _err(e, f"key {kid}"))
        return
    row("key", True, f"{kid} decrypts a probe")
