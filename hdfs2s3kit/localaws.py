"""A local AWS for the demo, the tests and the benchmarks: `moto_server` on a
free port of 127.0.0.1 (never any other address), reached by clients through
AWS_ENDPOINT_URL like any endpoint.

Real S3 is HTTPS, and botocore behaves differently there (unsigned payloads,
checksum trailers), so the server can also speak TLS with a self-signed
certificate for 127.0.0.1 that clients trust through AWS_CA_BUNDLE."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

from . import errors


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _executable():
    exe = os.path.join(os.path.dirname(sys.executable), "moto_server")
    if os.access(exe, os.X_OK):
        return exe
    exe = shutil.which("moto_server")
    if not exe:
        raise errors.UnavailableError("moto_server not found: install the test extras (`make venv`)")
    return exe


def self_signed_cert(directory):
    """Write cert.pem and key.pem (a self-signed certificate for 127.0.0.1, valid
    for a day) into directory; -> (cert path, key path). The cert is its own CA:
    point AWS_CA_BUNDLE at it."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cert_path, key_path


def start_moto_server(log_path, *, env=None, timeout=60, tls=None):
    """Start moto_server, logging to log_path; -> (process, url) once it answers.

    `env` adds server settings (e.g. S3_UPLOAD_PART_MIN_SIZE). `tls` = (cert,
    key) from self_signed_cert serves https:// instead (clients need
    AWS_CA_BUNDLE=cert). If it does not answer within `timeout` seconds:
    UnavailableError with the log's tail."""
    port = _free_port()
    args = ["-c", tls[0], "-k", tls[1]] if tls else []
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([_executable(), "-H", "127.0.0.1", "-p", str(port), *args], stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=dict(os.environ, **(env or {}), MOTO_PORT=str(port)))
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    context = None
    if tls:
        import ssl

        context = ssl.create_default_context(cafile=tls[0])
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url + "/moto-api/data.json", timeout=2, context=context).read()
            return proc, url
        except Exception:  # noqa: BLE001 - not up yet
            if proc.poll() is not None or time.monotonic() > deadline:
                stop_moto_server(proc)
                with open(log_path, errors="replace") as f:
                    tail = f.read()[-300:].replace("\n", " ")
                raise errors.UnavailableError(f"moto_server did not start: {tail}") from None
            time.sleep(0.2)


def stop_moto_server(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
