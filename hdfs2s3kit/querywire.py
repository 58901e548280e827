"""Lean clients for the AWS query protocol (form-encoded POST, XML answers), no botocore.

What the commands call at run time: SNS Publish (notifications), CloudWatch PutMetricData
(metrics) and STS AssumeRole (leanaws). Same method names and keyword arguments as boto3's
clients, answers shaped like theirs, errors as awshttp.ClientError with the code from the
answer's <Error><Code> (NotFound, AuthorizationError, InvalidParameter...), retried by
awshttp's copy of botocore's standard rules (throttling, 5xx, connection errors).

The form is encoded as botocore's QuerySerializer does, because a server that re-encodes the
parsed form to check the signature (moto) must get our bytes back: parameters in the order
the caller gave them (botocore walks the kwargs dict), lists as `Name.member.N`, maps as
`Name.entry.N.<key name>`/`.<value name>` with the API's names (SNS: Name/Value), an empty list
as `Name=`, booleans `true`/`false`, timestamps ISO 8601 (microseconds only when there are
some), floats by str() (Infinity, -Infinity, NaN spelled out), all by urlencode (quote_plus).
botocore gzips PutMetricData bodies over 10 KiB; we send them plain (CloudWatch takes both).
"""

import base64
import datetime
import math
import urllib.parse

from . import awshttp

CONTENT_TYPE = "application/x-www-form-urlencoded; charset=utf-8"


# -- the form ---------------------------------------------------------------------------------
def _scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if math.isinf(v):
            return "Infinity" if v > 0 else "-Infinity"
        if math.isnan(v):
            return "NaN"
        return str(v)
    if isinstance(v, datetime.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=datetime.timezone.utc)   # botocore takes a naive time as UTC
        v = v.astimezone(datetime.timezone.utc)
        return v.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if v.microsecond else "%Y-%m-%dT%H:%M:%SZ")
    if isinstance(v, (bytes, bytearray)):
        return base64.b64encode(bytes(v)).decode("ascii")
    return str(v)


def flatten(params, maps=None, prefix="", out=None):
    """{kwargs} -> [(form name, value)] in botocore's order. `maps` {member name: (key name,
    value name)} names the members that are maps (the rest of the dicts are structures)."""
    maps = maps or {}
    out = [] if out is None else out
    for name, value in params.items():
        full = f"{prefix}.{name}" if prefix else name
        _value(full, name, value, maps, out)
    return out


def _value(full, name, value, maps, out):
    if isinstance(value, dict) and name in maps:
        kname, vname = maps[name]
        for i, (k, v) in enumerate(value.items(), 1):
            out.append((f"{full}.entry.{i}.{kname}", _scalar(k)))
            _value(f"{full}.entry.{i}.{vname}", vname, v, maps, out)
    elif isinstance(value, dict):
        flatten(value, maps, full, out)
    elif isinstance(value, (list, tuple)):
        if not value:
            out.append((full, ""))
        for i, v in enumerate(value, 1):
            _value(f"{full}.member.{i}", "member", v, maps, out)
    else:
        out.append((full, _scalar(value)))


def encode(action, version, params, maps=None):
    form = [("Action", action), ("Version", version)] + flatten(params, maps)
    return urllib.parse.urlencode(form).encode()


# -- answers ---------------------------------------------------------------------------------
def to_dict(el):
    """An XML answer element -> dicts of text; `member` children become lists."""
    kids = list(el)
    if not kids:
        return el.text or ""
    if all(awshttp._strip(k.tag) == "member" for k in kids):
        return [to_dict(k) for k in kids]
    return {awshttp._strip(k.tag): to_dict(k) for k in kids}


class QueryClient:
    """One service in one region: `_call(op, kwargs)` -> the <OpResult> element's dict plus
    ResponseMetadata, as boto3 returns it."""

    service = signing_name = version = None
    maps = {}

    def __init__(self, credentials, region, *, attempts=awshttp.TOTAL_ATTEMPTS, timeouts=None):
        url = awshttp.configured_url(self.service)
        if url:
            ep = awshttp.Endpoint(url, True)
        else:
            ep = awshttp.Endpoint(f"https://{self.signing_name}.{region}.amazonaws.com", False)
        self._t = awshttp.Transport(self.signing_name, region, credentials, endpoint=ep, attempts=attempts,
                                    timeouts=timeouts)
        self.meta = awshttp.ClientMeta(self.service, region, ep)

    def _call(self, op, params):
        body = encode(op, self.version, params, self.maps)
        status, headers, data, retries = self._t.post(op, body, {"content-type": CONTENT_TYPE}, params)
        out = {}
        meta = awshttp._metadata(status, headers, retries)
        if data:
            root = awshttp.parse_xml(data)     # parsed once: the result and, if need be, the RequestId
            for el in root.iter():
                if awshttp._strip(el.tag) == f"{op}Result":
                    got = to_dict(el)
                    out = got if isinstance(got, dict) else {}
                    break
            if not meta["RequestId"]:
                meta["RequestId"] = awshttp.find_text(root, "RequestId")
        out["ResponseMetadata"] = meta
        return out


class SNSClient(QueryClient):
    service = signing_name = "sns"
    version = "2010-03-31"
    maps = {"MessageAttributes": ("Name", "Value")}

    def publish(self, **kw):
        return self._call("Publish", kw)


class CloudWatchClient(QueryClient):
    service, signing_name = "cloudwatch", "monitoring"
    version = "2010-08-01"

    def put_metric_data(self, **kw):
        return self._call("PutMetricData", kw)


class STSClient(QueryClient):
    service = signing_name = "sts"
    version = "2011-06-15"

    def assume_role(self, **kw):
        out = self._call("AssumeRole", kw)
        c = out.get("Credentials")
        if isinstance(c, dict) and c.get("Expiration"):
            c["Expiration"] = awshttp.iso_time(c["Expiration"])   # boto3 gives a datetime
        return out

    def get_caller_identity(self, **kw):
        return self._call("GetCallerIdentity", kw)


CLIENTS = {"sns": SNSClient, "cloudwatch": CloudWatchClient, "sts": STSClient}
