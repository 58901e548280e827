"""boto3 sessions and clients, and AWS errors mapped to our exit codes.

Everything goes through the standard credential chain (AWS_PROFILE, env,
instance roles) and honours AWS_REGION and AWS_ENDPOINT_URL[_<SERVICE>]:
botocore reads those itself, so we never take endpoint flags.
"""

import os
import sys

from . import awshttp, errors

_USER_AGENT = "hdfs2s3kit/0.1"


def base_session(region=None, profile=None):
    """A session from the standard chain; region from the argument, else AWS_REGION
    (which botocore itself ignores: it reads only AWS_DEFAULT_REGION), else the profile."""
    import boto3

    return boto3.session.Session(profile_name=profile, region_name=region or os.environ.get("AWS_REGION") or None)


class NoLeanClient(errors.KitError):
    """A call the lean path has no client for, on a lean session: a bug to fix (add the client,
    or keep that command on botocore), never a silent botocore import."""


LEAN_SERVICES = ("s3", "ssm", "sns", "cloudwatch", "sts")


def _lean_client(session, service, *, retries, region, kw):
    region = region or session.region_name
    if not region:
        raise no_region_error(service)
    if service == "s3":
        from . import s3wire

        return s3wire.S3Client(session.credentials, region)
    # botocore's standard mode: max_attempts retries after the first attempt; its connect and
    # read timeouts (the monitoring clients give up fast: metrics.MONITORING_CLIENT)
    timeouts = None
    if "connect_timeout" in kw or "read_timeout" in kw:
        timeouts = (kw.get("connect_timeout", awshttp.TIMEOUT), kw.get("read_timeout", awshttp.TIMEOUT))
    if service == "ssm":
        from . import jsonwire

        return jsonwire.SSMClient(session.credentials, region, attempts=retries + 1, timeouts=timeouts)
    from . import querywire

    cls = querywire.CLIENTS.get(service)
    if cls is None:
        raise NoLeanClient(f"internal error: no lean client for {service} (lean: {', '.join(LEAN_SERVICES)}); "
                           f"set HDFS2S3_AWS_CLIENT=botocore to run this command")
    return cls(session.credentials, region, attempts=retries + 1, timeouts=timeouts)


def client(session, service, *, max_pool=10, retries=5, region=None, **kw):
    """A boto3 client; on a lean session (leanaws.LeanSession) the lean one for s3, ssm, sns,
    cloudwatch and sts (same calls, same answers and errors), and NoLeanClient for any other."""
    if getattr(session, "lean", False):
        return _lean_client(session, service, retries=retries, region=region, kw=kw)
    import botocore.config
    import botocore.exceptions

    cfg = botocore.config.Config(
        user_agent_extra=_USER_AGENT,
        max_pool_connections=max_pool,
        retries={"max_attempts": retries, "mode": "standard"},
        **kw,
    )
    region = region or session.region_name
    if not region:
        # botocore would send S3 to the global us-east-1 endpoint and fail others with a
        # traceback; one rule for every service: no region is a configuration error.
        raise no_region_error(service)
    try:
        c = session.client(service, config=cfg, region_name=region)
    except botocore.exceptions.NoRegionError:
        raise no_region_error(service) from None
    _load_ca_bundle_once(c)
    from . import verbosity

    return verbosity.attach(c)


def _load_ca_bundle_once(c):
    """Parse the CA bundle into the client's SSL context once, not per connection.

    botocore hands urllib3 the bundle's path for every request and urllib3 loads it into the
    shared SSL context again on every new connection: ~1 ms of CPU for a one-certificate
    bundle, several for a full one (certifi's, AWS_CA_BUNDLE's), per connection -- and an
    endpoint that closes connections (the emulator does after every request; S3 now and then)
    pays it per request. Best effort: with any botocore internals other than expected, or a
    pool that does not use this context (proxies build their own), botocore's way stays."""
    try:
        import ssl

        from botocore.httpsession import get_cert_path

        http = c._endpoint.http_session
        setup = http._setup_ssl_cert
        ctx = http._manager.connection_pool_kw["ssl_context"]
        verify = http._verify
        if not verify or not isinstance(ctx, ssl.SSLContext):
            return
        path = get_cert_path(verify)
        if os.path.isdir(path):
            ctx.load_verify_locations(capath=path)
        else:
            ctx.load_verify_locations(cafile=path)
    except Exception:  # noqa: BLE001 - an optimisation only; the bundle is then read as botocore does
        return

    def setup_once(conn, url, verify, _setup=setup):
        _setup(conn, url, verify)
        if conn.ca_certs == path and getattr(conn, "conn_kw", {}).get("ssl_context") is ctx:
            conn.ca_certs = None     # already in ctx, which verifies (cert_reqs stays REQUIRED)

    http._setup_ssl_cert = setup_once


def no_region_error(service=None):
    """No region anywhere: name the settings that give one (78, not a traceback)."""
    what = f" for {service}" if service else ""
    cfg = "" if service == "ssm" else "`region` in the config, "   # the config itself is read from SSM
    return errors.ConfigError(f"no AWS region{what}: set AWS_REGION (or AWS_DEFAULT_REGION), {cfg}"
                              "or region in the AWS_PROFILE's ~/.aws/config")


def endpoint_of(exc):
    """The URL a connection error was about, when botocore says."""
    kw = getattr(exc, "kwargs", None) or {}
    return kw.get("endpoint_url") or (kw.get("error") and getattr(kw.get("error"), "url", None)) or None


_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "InvalidClientTokenId",
           "SignatureDoesNotMatch", "ExpiredToken", "ExpiredTokenException", "AuthFailure",
           "UnrecognizedClientException", "AuthorizationError", "403"}
_TEMP = {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "ServiceUnavailable",
         "InternalError", "RequestTimeout", "TooManyRequestsException", "500", "502", "503", "504"}
_MISSING = {"NoSuchBucket", "NoSuchKey", "ParameterNotFound", "NotFound", "404", "NoSuchUpload"}


def _botocore_exceptions():
    """botocore's exception module if botocore is in use, else None (then no exception can be one)."""
    return sys.modules.get("botocore.exceptions")


def error_code(exc):
    bex = _botocore_exceptions()
    if isinstance(exc, awshttp.ClientError) or (bex is not None and isinstance(exc, bex.ClientError)):
        return exc.response.get("Error", {}).get("Code", "") or str(
            exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
    return ""


def as_kit_error(exc, what):
    """Turn a botocore/boto3 exception into a KitError with a one-line message.

    `what` names the action and resource, e.g. "PutObject s3://b/k".
    """
    if isinstance(exc, errors.KitBase):
        return exc
    if isinstance(exc, awshttp.ClientError):
        return _client_error(exc, what)
    if isinstance(exc, (awshttp.EndpointConnectionError, awshttp.ConnectionClosedError,
                        awshttp.ReadTimeoutError, awshttp.ConnectTimeoutError)):
        return _unreachable(exc, what)
    if isinstance(exc, awshttp.TransportError):
        return errors.UnavailableError(f"{what}: {exc}".replace("\n", " "))
    bex = _botocore_exceptions()
    if bex is None:
        return errors.KitError(f"{what}: {type(exc).__name__}: {exc}".replace("\n", " "))
    botocore = sys.modules["botocore"]
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return errors.ConfigError(f"{what}: no AWS credentials found (standard chain: env, AWS_PROFILE, instance role)")
    if isinstance(exc, botocore.exceptions.NoRegionError):
        return no_region_error()
    if isinstance(exc, (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectionClosedError,
                        botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectTimeoutError)):
        return _unreachable(exc, what)
    if isinstance(exc, botocore.exceptions.ClientError):
        return _client_error(exc, what)
    if isinstance(exc, botocore.exceptions.BotoCoreError):
        return errors.UnavailableError(f"{what}: {exc}".replace("\n", " "))
    return errors.KitError(f"{what}: {type(exc).__name__}: {exc}".replace("\n", " "))


def _unreachable(exc, what):
    url = endpoint_of(exc)
    at = f" at {url}" if url else ""
    return errors.UnavailableError(f"{what}: cannot reach the service{at} ({type(exc).__name__})")


def _client_error(exc, what):
    code = error_code(exc)
    msg = exc.response.get("Error", {}).get("Message", "") or code
    text = f"{what}: {code}: {msg}".replace("\n", " ")
    if code in _DENIED:
        return errors.PermissionDeniedError(text)
    if code in _TEMP:
        return errors.TempFailError(text)
    if code in _MISSING:
        return errors.NoInputError(text)
    return errors.KitError(text, code=errors.UNAVAILABLE, status="aws_error")


def s3_client(session, *, concurrency=8, region=None):
    """An S3 client for bulk transfer, shared by all part threads (clients are thread-safe).

    We compute the additional checksum ourselves (once, in the part thread) and
    send it as a header, so botocore must not hash bodies again: no automatic
    request checksum and no SHA-256 payload signature (the signed checksum header
    protects the body instead; over https botocore already skips body signing
    when a checksum header is present, this makes http behave the same).

    A lean session (leanaws.LeanSession) gets the lean client (s3wire), which does the same
    without botocore: UNSIGNED-PAYLOAD with the signed checksum header, no checksum of its own.
    """
    if getattr(session, "lean", False):
        region = region or session.region_name
        if not region:
            raise no_region_error("s3")
        from . import s3wire

        return s3wire.S3Client(session.credentials, region)
    return client(
        session, "s3", max_pool=concurrency + 2, region=region,
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        s3={"payload_signing_enabled": False},
    )


def head_or_none(s3, bucket, key):
    """HeadObject's answer, or None when there is no such object."""
    try:
        return s3.head_object(Bucket=bucket, Key=key)
    except Exception as e:  # noqa: BLE001 - mapped below
        if error_code(e) in ("404", "NoSuchKey", "NotFound"):
            return None
        raise as_kit_error(e, f"HeadObject {s3_url(bucket, key)}") from None


def s3_url(bucket, key=""):
    return f"s3://{bucket}/{key}"


def parse_s3_url(url, *, need_key=True):
    """'s3://bucket/key' -> (bucket, key). Refuses anything else with a UsageError."""
    if not isinstance(url, str) or not url.startswith("s3://"):
        raise errors.UsageError(f"not an s3:// URL: {url!r}")
    bucket, _, key = url[5:].partition("/")
    if not bucket:
        raise errors.UsageError(f"no bucket in {url!r}")
    if need_key and not key:
        raise errors.UsageError(f"no object key in {url!r} (expected s3://BUCKET/KEY)")
    return bucket, key
