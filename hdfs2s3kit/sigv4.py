"""AWS Signature Version 4, pure: canonical request, string to sign, signing key, header.

No I/O and no botocore. `sign()` adds `x-amz-date`, `x-amz-content-sha256` (S3 only),
`x-amz-security-token` (temporary credentials) and `Authorization` to the headers of one
request. The payload hash is the body's SHA-256 (hex) or UNSIGNED_PAYLOAD (S3 bodies whose
integrity the signed x-amz-checksum-* header protects instead, as botocore does with
payload signing off). Spec: AWS's "Create a signed AWS API request" (SigV4) pages.
"""

import hashlib
import hmac
import urllib.parse

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

_key_cache = {}


def quote(text, safe="-_.~"):
    """RFC 3986 percent-encoding of UTF-8, as SigV4 wants ('-_.~' and alphanumerics kept)."""
    return urllib.parse.quote(text, safe=safe)


def encoded_params(params):
    """[(name, value)] -> [(encoded name, encoded value)] sorted by encoded name, then value; a
    missing value is '' (the order both the signature and the sent query use)."""
    return sorted((quote(k), quote("" if v is None else str(v))) for k, v in params)


def canonical_query(params):
    """[(name, value)] -> 'a=1&b=' (encoded_params joined; a flag gets its '=')."""
    return "&".join(f"{k}={v}" for k, v in encoded_params(params))


UNSIGNED_HEADERS = {"user-agent", "expect", "x-amzn-trace-id"}   # as botocore: proxies may change them


def canonical_headers(headers):
    """-> (canonical headers block, signed header names). Names lowercased, values trimmed and
    inner runs of spaces collapsed; UNSIGNED_HEADERS left out."""
    items = sorted((k.lower().strip(), " ".join(str(v).split())) for k, v in headers.items()
                   if k.lower().strip() not in UNSIGNED_HEADERS)
    block = "".join(f"{k}:{v}\n" for k, v in items)
    return block, ";".join(k for k, _ in items)


def canonical_request(method, path, params, headers, payload_hash):
    block, signed = canonical_headers(headers)
    return "\n".join([method, path, canonical_query(params), block, signed, payload_hash]), signed


def signing_key(secret, date, region, service):
    ck = (secret, date, region, service)
    key = _key_cache.get(ck)
    if key is None:
        k = hmac.new(("AWS4" + secret).encode(), date.encode(), hashlib.sha256).digest()
        for part in (region, service, "aws4_request"):
            k = hmac.new(k, part.encode(), hashlib.sha256).digest()
        if len(_key_cache) > 16:
            _key_cache.clear()
        _key_cache[ck] = key = k
    return key


def string_to_sign(amz_date, scope, creq):
    return "\n".join([ALGORITHM, amz_date, scope, hashlib.sha256(creq.encode()).hexdigest()])


def sign(method, path, params, headers, *, payload_hash, access_key, secret_key, token=None, region,
         service, amz_date):
    """Sign in place and return `headers` (a dict that must hold `host`).

    `path` is the canonical URI, already percent-encoded exactly as it is sent (S3: once, '/' kept);
    `params` the query as [(name, value)] unencoded; `amz_date` 'YYYYMMDDTHHMMSSZ'."""
    headers["x-amz-date"] = amz_date
    if service == "s3":
        headers["x-amz-content-sha256"] = payload_hash
    if token:
        headers["x-amz-security-token"] = token
    creq, signed = canonical_request(method, path, params, headers, payload_hash)
    date = amz_date[:8]
    scope = f"{date}/{region}/{service}/aws4_request"
    sts = string_to_sign(amz_date, scope, creq)
    sig = hmac.new(signing_key(secret_key, date, region, service), sts.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = f"{ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={signed}, Signature={sig}"
    return headers
