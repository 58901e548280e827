"""Lean SSM client over the awsJson1_1 protocol, no botocore: the run-time reads only.

GetParameter, GetParameters and GetParametersByPath (what config, keyring and keys' probe
call on the transfer/map/notify/encrypt paths): POST / with `X-Amz-Target: AmazonSSM.<Op>`
and `Content-Type: application/x-amz-json-1.1`, the kwargs as the JSON body, the JSON answer
as boto3 returns it (LastModifiedDate a datetime). An error answer's `__type` (its part after
'#', as botocore takes it; else the x-amzn-errortype header) is the ClientError code:
ParameterNotFound, ParameterVersionNotFound, AccessDeniedException, ThrottlingException (the
last retried, as awshttp retries botocore's throttling codes). Admin writes (put_parameter,
label_parameter_version, get_parameter_history) stay with botocore: only `hdfs2s3kit
keys/config` make them, and those never take the lean path.
"""

import datetime
import json

from . import awshttp

TARGET_PREFIX = "AmazonSSM"
CONTENT_TYPE = "application/x-amz-json-1.1"


def error_response(status, reason, headers, data):
    """A boto-shaped error response from a JSON-protocol error answer (botocore's
    BaseJSONParser: code from `__type`, else the x-amzn-errortype header; message from
    `message`/`Message`)."""
    body = {}
    if data:
        try:
            body = json.loads(data)
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
    code = body.get("__type") or body.get("code") or headers.get("x-amzn-errortype") or ""
    code = code.split(":")[0].rsplit("#", 1)[-1] or str(status)
    msg = body.get("message") or body.get("Message") or reason or ""
    return {"Error": {"Code": code, "Message": msg},
            "ResponseMetadata": awshttp._metadata(status, headers, 0)}


def _times(value):
    """Parameter timestamps (epoch seconds in JSON) -> aware datetimes, as boto3 gives them."""
    if isinstance(value, list):
        return [_times(v) for v in value]
    if isinstance(value, dict):
        return {k: (datetime.datetime.fromtimestamp(v, datetime.timezone.utc)
                    if k == "LastModifiedDate" and isinstance(v, (int, float)) else _times(v))
                for k, v in value.items()}
    return value


class SSMClient:
    def __init__(self, credentials, region, *, attempts=awshttp.TOTAL_ATTEMPTS, timeouts=None):
        ep = awshttp.endpoint_for("ssm", region)
        self._t = awshttp.Transport("ssm", region, credentials, endpoint=ep, attempts=attempts, timeouts=timeouts,
                                    error_parser=error_response)
        self.meta = awshttp.ClientMeta("ssm", region, ep)

    def _call(self, op, params):
        body = json.dumps(params, separators=(",", ":")).encode()
        h = {"content-type": CONTENT_TYPE, "x-amz-target": f"{TARGET_PREFIX}.{op}"}
        status, headers, data, retries = self._t.post(op, body, h, params)
        out = _times(json.loads(data)) if data else {}
        if not isinstance(out, dict):
            out = {}
        out["ResponseMetadata"] = awshttp._metadata(status, headers, retries)
        return out

    def get_parameter(self, **kw):
        return self._call("GetParameter", kw)

    def get_parameters(self, **kw):
        return self._call("GetParameters", kw)

    def get_parameters_by_path(self, **kw):
        return self._call("GetParametersByPath", kw)
