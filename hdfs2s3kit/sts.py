"""Temporary, scoped credentials: STS AssumeRole that refreshes itself.

The session returned carries botocore RefreshableCredentials: every request
asks them for a current token and they call AssumeRole again shortly before
expiry, so an upload lasting hours never meets an expired token.
"""

import os
import re
import socket

import boto3
import botocore.credentials
import botocore.session

from . import aws, errors, identity

# botocore refreshes 15 min (advisory) / 10 min (mandatory) before expiry; with a
# short session those windows would cover the whole lifetime and every request
# would call AssumeRole, so they are capped to a fraction of the duration.
_ADVISORY, _MANDATORY = 15 * 60, 10 * 60

_BAD = re.compile(r"[^\w+=,.@-]")


def session_name(user=None, host=None, pid=None):
    """RoleSessionName `user@host-pid` for CloudTrail, in STS's charset and 2..64 chars."""
    # the effective uid, not $USER/$LOGNAME: CloudTrail must name who really ran it
    user = user or identity.audit_name()
    host = (host or socket.gethostname()).split(".")[0]
    pid = os.getpid() if pid is None else pid
    tail = f"-{pid}"
    head = _BAD.sub("_", f"{user}@{host}")
    name = head[: 64 - len(tail)] + tail
    return name if len(name) >= 2 else (name + "__")[:2]


def assumed_session(role_arn, *, base=None, session_name=None, duration=3600, refresh_margin=None,
                    region=None, external_id=None):
    """A boto3.Session whose credentials come from AssumeRole(role_arn) and refresh themselves.

    `base` is the session whose credentials call STS (default: the standard chain).
    `refresh_margin` (seconds before expiry to refresh) defaults to botocore's
    windows, capped at a third of `duration`. `external_id` is passed to
    AssumeRole when the role's trust policy requires one.
    """
    if not role_arn or not str(role_arn).startswith("arn:"):
        raise errors.UsageError(f"not a role ARN: {role_arn!r}")
    base = base or aws.base_session(region=region)
    name = session_name or globals()["session_name"]()
    sts = aws.client(base, "sts", region=region)

    extra = {"ExternalId": external_id} if external_id else {}

    def fetch():
        try:
            resp = sts.assume_role(RoleArn=role_arn, RoleSessionName=name, DurationSeconds=int(duration), **extra)
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
    advisory = refresh_margin if refresh_margin is not None else min(_ADVISORY, duration // 3)
    mandatory = refresh_margin if refresh_margin is not None else min(_MANDATORY, duration // 6)
    creds._advisory_refresh_timeout = advisory
    creds._mandatory_refresh_timeout = min(mandatory, advisory)

    bs = botocore.session.Session()
    bs._credentials = creds
    reg = region or base.region_name
    if reg:
        bs.set_config_variable("region", reg)
    sess = boto3.session.Session(botocore_session=bs)
    sess.role_arn = role_arn
    sess.role_session_name = name
    return sess


def session_for(*, role_arn=None, assume_role=True, config_prefix=None, duration=3600):
    """The session a command works with, and the config it read (or None).

    The role comes from --role-arn, else from the config's `role_arn`; with
    assume_role=False the standard chain is used as is (hosts already running
    in the target role). The config is read only when a prefix is known or
    needed, so --role-arn/--no-assume-role work without one.
    """
    from . import config as _config

    cfg = None
    if config_prefix or os.environ.get(_config.ENV_VAR) or (assume_role and not role_arn):
        cfg = _config.load_config(config_prefix)
    region = cfg.get("region") if cfg is not None else None
    base = aws.base_session(region=region)
    if not assume_role:
        return base, None, None, cfg
    if not role_arn:
        (role_arn,) = cfg.require("role_arn")
    external_id = cfg.get("role_external_id") if cfg is not None else None
    sess = assumed_session(role_arn, base=base, duration=duration, region=region, external_id=external_id)
    return sess, role_arn, sess.role_session_name, cfg
