"""Temporary, scoped credentials: STS AssumeRole that refreshes itself.

The session returned carries botocore RefreshableCredentials: every request
asks them for a current token and they call AssumeRole again shortly before
expiry, so an upload lasting hours never meets an expired token.

Least privilege: a run that knows where it writes passes a *session policy*
(`session_policy`) limiting the session to those keys (or one prefix) of the
destination bucket, whatever the role itself may do; and every session carries
`SourceIdentity` = the real (effective) user (with the Hadoop principal it reads
HDFS as, hadoopident.who), which CloudTrail records and which sticks through role chaining. The role's trust policy must allow
`sts:SetSourceIdentity` (docs/SECURITY.md).
"""

import json
import os
import posixpath
import re
import socket

from . import aws, errors, verbosity

# botocore refreshes 15 min (advisory) / 10 min (mandatory) before expiry; with a
# short session those windows would cover the whole lifetime and every request
# would call AssumeRole, so they are capped to a fraction of the duration.
_ADVISORY, _MANDATORY = 15 * 60, 10 * 60

_BAD = re.compile(r"[^\w+=,.@-]")


def session_name(user=None, host=None, pid=None):
    """RoleSessionName `user@host-pid` for CloudTrail, in STS's charset and 2..64 chars."""
    # the effective uid, not $USER/$LOGNAME: CloudTrail must name who really ran it; and the
    # Hadoop identity the process reads HDFS as, when that is more than the same plain name
    from . import hadoopident   # here: ~9 ms of imports (dataclasses) that notify never needs

    user = user or hadoopident.who()[1]
    host = (host or socket.gethostname()).split(".")[0]
    pid = os.getpid() if pid is None else pid
    tail = f"-{pid}"
    head = _BAD.sub("_", f"{user}@{host}")
    name = head[: 64 - len(tail)] + tail
    return name if len(name) >= 2 else (name + "__")[:2]


# Object-level actions the uploader, the skip check, the checked delete of a bad object
# and verify need; bucket-level ones that HeadObject (404 rather than 403) and the
# orphaned-upload clean-up need.
OBJECT_ACTIONS = ("s3:PutObject", "s3:GetObject", "s3:GetObjectVersion", "s3:AbortMultipartUpload",
                  "s3:ListMultipartUploadParts", "s3:DeleteObject", "s3:DeleteObjectVersion")
BUCKET_ACTIONS = ("s3:ListBucket", "s3:ListBucketMultipartUploads")
MAX_POLICY_CHARS = 2048   # STS's limit on a plaintext session policy


def _policy_doc(resources, region):
    buckets = sorted({r.split("/", 1)[0] for r in resources})
    stmts = [
        {"Sid": "RunObjects", "Effect": "Allow", "Action": list(OBJECT_ACTIONS),
         "Resource": [f"arn:aws:s3:::{r}" for r in sorted(resources)]},
        {"Sid": "RunBuckets", "Effect": "Allow", "Action": list(BUCKET_ACTIONS),
         "Resource": [f"arn:aws:s3:::{b}" for b in buckets]},
        # SSE-KMS buckets: S3 calls KMS on the session's behalf, and only for S3
        {"Sid": "BucketKeysViaS3", "Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
         "Resource": "*", "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region or 'us-east-1'}.amazonaws.com"}}},
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": stmts}, separators=(",", ":"))


def session_policy(scope, region=None):
    """The session policy for a run writing to SCOPE: [(bucket, key_or_prefix, is_prefix)].

    Exact keys when they fit STS's 2,048 characters; else each bucket's common prefix
    (cut at a '/'); else whole buckets. None for an empty scope."""
    scope = sorted(set(scope or ()))
    if not scope:
        return None
    exact = {f"{b}/{k}*" if pre else f"{b}/{k}" for b, k, pre in scope}
    doc = _policy_doc(exact, region)
    if len(doc) <= MAX_POLICY_CHARS:
        return doc
    per_bucket = {}
    for b, k, _pre in scope:
        per_bucket.setdefault(b, []).append(k)
    common = set()
    for b, keys in per_bucket.items():
        c = posixpath.commonprefix(keys)
        c = c[: c.rfind("/") + 1] if "/" in c else ""
        common.add(f"{b}/{c}*")
    doc = _policy_doc(common, region)
    if len(doc) <= MAX_POLICY_CHARS:
        return doc
    return _policy_doc({f"{b}/*" for b in per_bucket}, region)


def source_identity(user=None):
    """SourceIdentity: the real user's name in STS's charset, 2..64 characters; with the Hadoop
    principal the process read HDFS as (`alice+alice@EXAMPLE.COM`) when that is more than the
    same plain name (hadoopident.who)."""
    from . import hadoopident

    name = _BAD.sub("_", user or hadoopident.who()[0])[:64]
    return name if len(name) >= 2 else (name + "__")[:2]


def assumed_session(role_arn, *, base=None, session_name=None, duration=3600, refresh_margin=None,
                    region=None, external_id=None, policy=None, source_identity=None):
    """A boto3.Session whose credentials come from AssumeRole(role_arn) and refresh themselves.

    `base` is the session whose credentials call STS (default: the standard chain).
    `refresh_margin` (seconds before expiry to refresh) defaults to botocore's
    windows, capped at a third of `duration`. `external_id` is passed to
    AssumeRole when the role's trust policy requires one. `policy` (a session policy,
    JSON) narrows what the session may do; `source_identity` defaults to the real user.
    """
    import boto3
    import botocore.credentials
    import botocore.session

    params = _assume_params(role_arn, session_name, duration, external_id, policy, source_identity)
    base = base or aws.base_session(region=region)
    sts = aws.client(base, "sts", region=region)

    def fetch():
        try:
            resp = sts.assume_role(**params)
        except Exception as e:  # noqa: BLE001 - mapped to a one-line KitError
            raise aws.as_kit_error(e, f"AssumeRole {role_arn}") from None
        c = resp["Credentials"]
        return {
            "access_key": c["AccessKeyId"],
            "secret_key": c["SecretAccessKey"],
            "token": c["SessionToken"],
            "expiry_time": c["Expiration"].isoformat(),
        }

    creds = botocore.credentials.RefreshableCredentials.create_from_metadata(
        metadata=fetch(), refresh_using=fetch, method="sts-assume-role")
    advisory, mandatory = _windows(duration, refresh_margin)
    creds._advisory_refresh_timeout = advisory
    creds._mandatory_refresh_timeout = mandatory

    bs = botocore.session.Session()
    bs._credentials = creds
    reg = region or base.region_name
    if reg:
        bs.set_config_variable("region", reg)
    sess = boto3.session.Session(botocore_session=bs)
    sess.role_arn = role_arn
    sess.role_session_name = params["RoleSessionName"]
    return sess


def _windows(duration, refresh_margin=None):
    """(advisory, mandatory) seconds before expiry: botocore's, capped for short sessions."""
    advisory = refresh_margin if refresh_margin is not None else min(_ADVISORY, duration // 3)
    mandatory = refresh_margin if refresh_margin is not None else min(_MANDATORY, duration // 6)
    return advisory, min(mandatory, advisory)


def _assume_params(role_arn, name, duration, external_id, policy, source_identity_):
    """The AssumeRole request both paths send (botocore's assume_role kwargs; the lean path's
    query form), after refusing what is not a role ARN."""
    if not role_arn or not str(role_arn).startswith("arn:"):
        raise errors.UsageError(f"not a role ARN: {role_arn!r}")
    params = {"RoleArn": role_arn, "RoleSessionName": name or session_name(), "DurationSeconds": int(duration)}
    if external_id:
        params["ExternalId"] = external_id
    if policy:
        params["Policy"] = policy
    params["SourceIdentity"] = source_identity_ or source_identity()
    return params


def lean_assumed_session(role_arn, base, *, duration=3600, refresh_margin=None, external_id=None, policy=None,
                         source_identity=None, session_name=None):
    """assumed_session on the lean path: `base` a leanaws.LeanSession; the same AssumeRole
    request (RoleSessionName, DurationSeconds, ExternalId, Policy, SourceIdentity) over STS's
    query API, credentials refreshed in the same windows -> a LeanSession."""
    from . import leanaws

    params = _assume_params(role_arn, session_name, duration, external_id, policy, source_identity)
    if not base.region_name:
        raise aws.no_region_error("sts")
    raw = leanaws.assume_role_fetcher(base.credentials, base.region_name, params)

    def fetch():
        try:
            return raw()
        except Exception as e:  # noqa: BLE001 - mapped to a one-line KitError
            raise aws.as_kit_error(e, f"AssumeRole {role_arn}") from None

    advisory, mandatory = _windows(duration, refresh_margin)
    sess = leanaws.LeanSession(base.region_name, leanaws.AssumedCredentials(fetch, advisory, mandatory),
                               f"AssumeRole with {base.source} credentials")
    sess.role_arn = role_arn
    sess.role_session_name = params["RoleSessionName"]
    return sess


def lean_base(region, scope, prog, *, say=True):
    """A lean base session when the lean path applies (leanaws.plan), else None; the choice said
    at -v (unless say=False: a second look, with the config's region, at an answer given)."""
    from . import leanaws

    p = leanaws.plan(region=region, buckets=sorted({b for b, _k, _p in scope or ()}))
    if not p.lean:
        verbosity.detail(prog, f"AWS client: botocore ({p.reason})")
        return None
    if say:
        verbosity.detail(prog, f"AWS client: lean ({p.source} credentials)")
    return leanaws.LeanSession(p.region, p.credentials, p.source)


def lean_in_region(first, region, scope, prog):
    """The lean session for `region` once the config named it, given `first`, the one the config
    was read with (the environment's region): `first` itself when the regions agree (or the
    config names none), else a second look (lean_base, quietly); None: botocore."""
    if first is None:
        return None
    if not region or region == first.region_name:
        return first
    return lean_base(region, scope, prog, say=False)


def session_for(*, role_arn=None, assume_role=True, config_prefix=None, duration=3600, scope=None, lean=None):
    """The session a command works with, and the config it read (or None).

    The role comes from --role-arn, else from the config's `role_arn`; with
    assume_role=False the standard chain is used as is (hosts already running
    in the target role). The config is read only when a prefix is known or
    needed, so --role-arn/--no-assume-role work without one. `scope` ([(bucket, key,
    is_prefix)]) becomes the session policy (session_policy).

    `lean` (a program name for the -v line) allows the lean path (leanaws): a LeanSession (its
    clients from aws.client/aws.s3_client, no botocore) whenever leanaws.plan says it does what
    botocore would; the config is then read over the lean SSM client too.
    """
    from . import config as _config

    # on the lean path the config itself is read lean (SSM in the environment's region, as
    # botocore's base_session would), then the base session takes the config's region
    first = lean_base(None, scope, lean) if lean else None
    cfg = None
    if _config.resolve_prefix(config_prefix) or (assume_role and not role_arn):
        cfg = _config.load_config(config_prefix, session=first)
    region = cfg.get("region") if cfg is not None else None
    base = lean_in_region(first, region, scope, lean) or aws.base_session(region=region)
    if not assume_role:
        return base, None, None, cfg
    if not role_arn:
        (role_arn,) = cfg.require("role_arn")
    external_id = cfg.get("role_external_id") if cfg is not None else None
    policy = session_policy(scope, region or base.region_name)
    if getattr(base, "lean", False):
        sess = lean_assumed_session(role_arn, base, duration=duration, external_id=external_id, policy=policy)
    else:
        sess = assumed_session(role_arn, base=base, duration=duration, region=region, external_id=external_id,
                               policy=policy)
    return sess, role_arn, sess.role_session_name, cfg
