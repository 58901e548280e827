"""The lean HTTP transport for AWS calls: http.client + ssl, no botocore.

One TLS context per process (AWS_CA_BUNDLE, else certifi's bundle as botocore uses), one
keep-alive connection per thread and endpoint, SigV4 per attempt (sigv4), and botocore's
"standard" retry rules: connection errors, HTTP 500/502/503/504, the transient and throttling
error codes, full-jitter exponential backoff capped at 20 s, 6 attempts in all (the
`retries={"max_attempts": 5}` that aws.client gives botocore). AWS error XML becomes a
ClientError carrying a boto-shaped `.response`, so aws.error_code/as_kit_error map it as
they map botocore's; transport failures keep botocore's exception names and messages.
"""

import datetime
import os
import random
import select
import socket
import threading
import time
import urllib.parse

from . import sigv4

USER_AGENT = "hdfs2s3kit/0.1 lean"
TOTAL_ATTEMPTS = 6
MAX_BACKOFF = 20.0
TIMEOUT = 60.0        # botocore's connect and read timeouts

_TRANSIENT_CODES = {"RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete"}
_THROTTLE_CODES = {"Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
                   "TooManyRequestsException", "ProvisionedThroughputExceededException",
                   "TransactionInProgressException", "RequestLimitExceeded", "BandwidthLimitExceeded",
                   "LimitExceededException", "RequestThrottled", "SlowDown", "PriorRequestNotComplete",
                   "EC2ThrottledException"}
_RETRY_STATUS = {500, 502, 503, 504}


# -- errors: botocore's names and messages ------------------------------------------------
class TransportError(Exception):
    """A request that got no HTTP answer (botocore: a ConnectionError)."""

    fmt = "{error}"

    def __init__(self, **kwargs):
        self.kwargs = kwargs
        super().__init__(self.fmt.format(**kwargs))


class EndpointConnectionError(TransportError):
    fmt = 'Could not connect to the endpoint URL: "{endpoint_url}"'


class ConnectTimeoutError(TransportError):
    fmt = 'Connect timeout on endpoint URL: "{endpoint_url}"'


class ReadTimeoutError(TransportError):
    fmt = 'Read timeout on endpoint URL: "{endpoint_url}"'


class ConnectionClosedError(TransportError):
    fmt = 'Connection was closed before we received a valid response from endpoint URL: "{endpoint_url}".'


class SSLError(TransportError):
    fmt = "SSL validation failed for {endpoint_url} {error}"


class ResponseStreamingError(TransportError):
    """The connection failed while a streamed body was being read (botocore's name and message)."""

    fmt = "An error occurred while reading from response stream: {error}"


class IncompleteReadError(TransportError):
    """A streamed body ended before its Content-Length (botocore's name and message)."""

    fmt = "{actual_bytes} read, but total bytes expected is {expected_bytes}."


class ClientError(Exception):
    """An AWS error answer; `.response` is shaped like botocore's ClientError.response."""

    def __init__(self, response, operation_name):
        self.response = response
        self.operation_name = operation_name
        err = response.get("Error", {})
        super().__init__(f"An error occurred ({err.get('Code', 'Unknown')}) when calling the {operation_name} "
                         f"operation: {err.get('Message', 'Unknown')}")


# -- endpoints ------------------------------------------------------------------------------
class Endpoint:
    def __init__(self, url, custom):
        u = urllib.parse.urlsplit(url)
        self.scheme = u.scheme or "https"
        self.host = u.hostname or ""
        self.port = u.port or (443 if self.scheme == "https" else 80)
        self.base_path = u.path.rstrip("/")
        self.custom = custom
        self.url = url.rstrip("/")
        default_port = (self.scheme == "https" and self.port == 443) or (self.scheme == "http" and self.port == 80)
        h = f"[{self.host}]" if ":" in self.host else self.host
        self.netloc = h if default_port else f"{h}:{self.port}"

    def is_ip(self):
        import ipaddress

        try:
            ipaddress.ip_address(self.host)
            return True
        except ValueError:
            return False


def configured_url(service):
    """AWS_ENDPOINT_URL_<SERVICE>, else AWS_ENDPOINT_URL (unless AWS_IGNORE_CONFIGURED_ENDPOINT_URLS)."""
    if os.environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() == "true":
        return None
    return os.environ.get(f"AWS_ENDPOINT_URL_{service.upper()}") or os.environ.get("AWS_ENDPOINT_URL") or None


def endpoint_for(service, region):
    url = configured_url(service)
    if url:
        return Endpoint(url, True)
    if service == "s3":
        host = "s3.amazonaws.com" if region == "us-east-1" else f"s3.{region}.amazonaws.com"
    else:
        host = f"{service}.{region}.amazonaws.com"
    return Endpoint(f"https://{host}", False)


# -- TLS and connections -------------------------------------------------------------------
_ctx_lock = threading.Lock()
_ctx = None


def ca_bundle():
    """AWS_CA_BUNDLE, else certifi's bundle, else botocore's vendored one (as botocore chooses)."""
    path = os.environ.get("AWS_CA_BUNDLE")
    if path:
        return path
    try:
        import certifi

        return certifi.where()
    except ImportError:
        return None


def tls_context():
    global _ctx
    with _ctx_lock:
        if _ctx is None:
            import ssl

            path = ca_bundle()
            if path and os.path.isdir(path):
                ctx = ssl.create_default_context(capath=path)
            elif path:
                ctx = ssl.create_default_context(cafile=path)
            else:
                ctx = ssl.create_default_context()
            _ctx = ctx
        return _ctx


_local = threading.local()


def _dropped(conn):
    sock = getattr(conn, "sock", None)
    if sock is None:
        return False
    try:
        r, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(r)      # readable while idle: EOF (the server closed it) or junk


def _connection(scheme, host, port, timeouts=None):
    import http.client

    pool = getattr(_local, "pool", None)
    if pool is None:
        pool = _local.pool = {}
    # clients with their own timeouts (the monitoring ones) keep their own connections: one
    # endpoint (an emulator, a VPC endpoint) may serve S3 and SNS alike
    key = (scheme, host, port) + (tuple(timeouts) if timeouts else ())
    conn = pool.get(key)
    if conn is not None and _dropped(conn):
        conn.close()
    if conn is None:
        connect = timeouts[0] if timeouts else TIMEOUT
        if scheme == "https":
            conn = http.client.HTTPSConnection(host, port, timeout=connect, context=tls_context())
        else:
            conn = http.client.HTTPConnection(host, port, timeout=connect)
        conn.read_timeout = timeouts[1] if timeouts else None
        pool[key] = conn
    return conn


def _connect(conn):
    """Open the socket now, so that connect failures are told apart from lost answers."""
    if conn.sock is not None:
        return
    conn.connect()
    if getattr(conn, "read_timeout", None):
        conn.sock.settimeout(conn.read_timeout)   # botocore: separate connect and read timeouts
    try:
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        pass


def close_all():
    for conn in (getattr(_local, "pool", None) or {}).values():
        conn.close()


# -- errors from answers -------------------------------------------------------------------
def _strip(tag):
    return tag.rsplit("}", 1)[-1]


def parse_xml(data):
    import xml.etree.ElementTree as ET

    return ET.fromstring(data)


def find_text(root, name):
    for el in root.iter():
        if _strip(el.tag) == name:
            return el.text or ""
    return None


def error_response(status, reason, headers, data):
    """A boto-shaped error response from an AWS error answer (S3's <Error>, the query APIs'
    <ErrorResponse><Error>, or no body at all: HEAD)."""
    code = msg = None
    extra = {}
    if data:
        try:
            root = parse_xml(data)
            for el in root.iter():
                if _strip(el.tag) == "Error":
                    for child in el:
                        extra[_strip(child.tag)] = child.text or ""
                    break
            code, msg = extra.pop("Code", None), extra.pop("Message", None)
        except Exception:  # noqa: BLE001 - not XML: the status is the code, as botocore does
            pass
    err = {"Code": code or str(status), "Message": msg if msg is not None else (reason or "")}
    err.update({k: v for k, v in extra.items() if k not in ("RequestId", "HostId", "Type")})
    return {"Error": err, "ResponseMetadata": _metadata(status, headers, 0)}


def _metadata(status, headers, retries):
    return {"RequestId": headers.get("x-amz-request-id") or headers.get("x-amzn-requestid"),
            "HostId": headers.get("x-amz-id-2"), "HTTPStatusCode": status, "HTTPHeaders": headers,
            "RetryAttempts": retries}


def retryable(exc):
    """botocore standard mode: may this failed attempt be tried again?"""
    if isinstance(exc, SSLError):
        import ssl

        return not isinstance(exc.kwargs.get("error"), ssl.SSLCertVerificationError)  # never gets better
    if isinstance(exc, TransportError):
        return True
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = err.get("Code")
        return status in _RETRY_STATUS or code in _TRANSIENT_CODES or code in _THROTTLE_CODES
    return False


def iso_time(text):
    """An AWS ISO 8601 timestamp ('2026-12-03T11:51:37.000Z') -> aware datetime (UTC when it
    names no zone), as botocore parses XML timestamps."""
    t = datetime.datetime.fromisoformat((text or "").strip().replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=datetime.timezone.utc)


def amz_date(now=None):
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y%m%dT%H%M%SZ")


class ClientMeta:
    """A lean client's `.meta`, the parts of boto3's the toolkit reads."""

    def __init__(self, service, region, endpoint):
        self.service_name = service
        self.region_name = region
        self.endpoint_url = endpoint.url


class Transport:
    """Signed requests to one service in one region, retried as botocore's standard mode."""

    def __init__(self, service, region, credentials, *, endpoint=None, attempts=TOTAL_ATTEMPTS, timeouts=None,
                 error_parser=None):
        """`timeouts` (connect, read) seconds, default TIMEOUT both; `error_parser(status, reason,
        headers, data)` -> a boto-shaped error response, default error_response (XML): the JSON
        protocols give their own (jsonwire), so that retries see the real error code."""
        self.service, self.region, self.credentials = service, region, credentials
        self.endpoint = endpoint or endpoint_for(service, region)
        self.attempts = attempts
        self.timeouts = timeouts
        self.error_parser = error_parser or error_response

    def post(self, op, body, headers, params):
        """POST `body` to the endpoint's root, as the query and JSON protocols do (querywire,
        jsonwire); `params` (the caller's kwargs) only for the -v/--debug description."""
        import hashlib

        from . import verbosity

        desc = verbosity.describe_params(params) if verbosity.debugging() else ""
        ep = self.endpoint
        return self.send(op, "POST", ep.netloc, (ep.base_path or "") + "/", [],
                         {**headers, "content-length": str(len(body))}, body,
                         payload_hash=hashlib.sha256(body).hexdigest(), desc=desc)

    def send(self, op, method, host, path, params, headers, body=None, *, payload_hash, retry=True,
             check=None, desc="", stream=False):
        """-> (status, headers (lowercase names), body bytes, retries). `path` is encoded as sent;
        `params` [(name, value)] unencoded; `check(status, headers, data)` may raise a
        ClientError for an error inside a 200 (S3's CompleteMultipartUpload). With `stream`, a
        success's body is a StreamingBody on the connection, read by the caller (errors mid-body
        are the caller's to retry, as with botocore)."""
        from . import verbosity

        # sent in canonical order; a flag without a value (`?uploads`) bare, as botocore sends it
        query = "&".join(k if v == "" else f"{k}={v}" for k, v in sigv4.encoded_params(params or ()))
        target = path + ("?" + query if query else "")
        url = f"{self.endpoint.scheme}://{host}{target}"
        start = body.tell() if hasattr(body, "tell") else None
        attempts = self.attempts if retry else 1
        for attempt in range(1, attempts + 1):
            t0 = time.monotonic()
            try:
                result = self._attempt(method, host, path, params, target, headers, body, start, payload_hash,
                                       url, check, op, attempt - 1, stream)
                if verbosity.debugging():
                    verbosity.debug("aws", f"{self.service}.{op}{' ' + desc if desc else ''} attempt {attempt}: "
                                           f"{result[0]} in {(time.monotonic() - t0) * 1000:.0f} ms")
                return result
            except Exception as e:  # noqa: BLE001 - retried or re-raised
                if verbosity.debugging():
                    outcome = type(e).__name__ if not isinstance(e, ClientError) else \
                        str(e.response["ResponseMetadata"]["HTTPStatusCode"])
                    verbosity.debug("aws", f"{self.service}.{op}{' ' + desc if desc else ''} attempt {attempt}: "
                                           f"{outcome} in {(time.monotonic() - t0) * 1000:.0f} ms")
                if attempt == attempts or not retryable(e):
                    if isinstance(e, ClientError):
                        e.response["ResponseMetadata"]["RetryAttempts"] = attempt - 1
                    raise
                time.sleep(min(random.random() * (2 ** (attempt - 1)), MAX_BACKOFF))
        raise AssertionError("unreachable")

    def _attempt(self, method, host, path, params, target, headers, body, start, payload_hash, url, check,
                 op, retries, stream=False):
        import http.client
        import ssl

        ak, sk, token = self.credentials.get()
        h = dict(headers)
        h["host"] = host
        h["user-agent"] = USER_AGENT
        sigv4.sign(method, path, params or (), h, payload_hash=payload_hash, access_key=ak, secret_key=sk,
                   token=token, region=self.region, service=self.service, amz_date=amz_date())
        if start is not None:
            body.seek(start)
        ep = self.endpoint
        conn = _connection(ep.scheme, ep.host, ep.port, self.timeouts)
        try:
            try:
                _connect(conn)
            except socket.timeout:
                raise ConnectTimeoutError(endpoint_url=url, error="timeout") from None
            except ssl.SSLError as e:
                raise SSLError(endpoint_url=url, error=e) from None
            except OSError as e:
                raise EndpointConnectionError(endpoint_url=url, error=e) from None
            try:
                conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
                for k, v in h.items():
                    conn.putheader(k, v)
                if body is None and method in ("PUT", "POST"):
                    conn.putheader("content-length", "0")
                conn.endheaders(body)
                resp = conn.getresponse()
                data = StreamingBody(resp, conn, url) if stream and resp.status < 300 else resp.read()
            except socket.timeout:
                raise ReadTimeoutError(endpoint_url=url, error="timeout") from None
            except ssl.SSLError as e:
                raise SSLError(endpoint_url=url, error=e) from None
            except (OSError, http.client.HTTPException) as e:
                raise ConnectionClosedError(endpoint_url=url, error=e) from None
        except BaseException:
            conn.close()          # half a request on it: never reuse
            raise
        rh = {k.lower(): v for k, v in resp.getheaders()}
        if resp.will_close and not isinstance(data, StreamingBody):   # a stream closes it at its end
            conn.close()
        status = resp.status
        if status >= 300:
            raise ClientError(self.error_parser(status, resp.reason, rh, data if method != "HEAD" else b""), op)
        if check is not None:
            check(status, rh, data, op)
        return status, rh, data, retries


class StreamingBody:
    """A response body read straight off the connection: `readinto` fills the caller's buffer
    from the socket (no copy of our own), `read(n)`, `iter_chunks`, `close`. As botocore's
    StreamingBody: a connection failure mid-body is a ResponseStreamingError, a body shorter
    than its Content-Length an IncompleteReadError (http.client would just return 0), a socket
    timeout a ReadTimeoutError. The keep-alive connection is reused only after a body read to
    its end; closed early or failed, it is closed (what is left on it is not ours to skip)."""

    def __init__(self, resp, conn, url):
        self._resp, self._conn, self._url = resp, conn, url
        n = resp.getheader("content-length")
        self._left = int(n) if n is not None and resp.length is not None else None   # None: chunked
        self._expected = self._left
        self._done = False

    def _end(self, whole):
        if self._done:
            return
        self._done = True
        if not whole or self._resp.will_close:
            self._conn.close()     # closes the response too
        else:
            self._resp.close()

    def readinto(self, b):
        mv = memoryview(b).cast("B") if not isinstance(b, memoryview) or b.format != "B" else b
        if self._done or not len(mv):
            return 0
        try:
            n = self._resp.readinto(mv)
        except socket.timeout:
            self._end(False)
            raise ReadTimeoutError(endpoint_url=self._url, error="timeout") from None
        except Exception as e:  # noqa: BLE001 - OSError, ssl/http.client errors, a closed file
            self._end(False)
            raise ResponseStreamingError(error=e) from None
        if self._left is not None:
            self._left -= n
            if n == 0 and self._left > 0:
                self._end(False)
                raise IncompleteReadError(actual_bytes=self._expected - self._left, expected_bytes=self._expected)
            if self._left == 0:
                self._end(True)
        elif n == 0:
            self._end(True)
        return n

    def read(self, amt=None):
        if amt is not None and amt >= 0:
            buf = bytearray(amt)
            k = self.readinto(buf) if amt else 0
            del buf[k:]
            return bytes(buf)
        parts = []
        while True:
            b = self.read(1 << 20)
            if not b:
                return b"".join(parts)
            parts.append(b)

    def iter_chunks(self, chunk_size=1024):
        while True:
            b = self.read(chunk_size)
            if not b:
                return
            yield b

    def close(self):
        self._end(self._left == 0)
