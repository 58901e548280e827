"""A moto server of its own speaking TLS with a self-signed certificate, as real S3 speaks HTTPS.

Clients trust it only through AWS_CA_BUNDLE (the env given back), so a test also shows that the
certificate is verified, not skipped.
"""

import os

from hdfs2s3kit import localaws


def tls_moto(tmp_path_factory, bucket):
    """Generator for a module fixture: yields (env, s3, dir) with `bucket` created; `env` has
    no AWS_* of the caller's, only the test keys, the endpoint and the CA bundle."""
    import awscrt  # noqa: F401 - must be importable before the server starts (CRC32C/CRC64NVME)
    import boto3

    d = tmp_path_factory.mktemp("tls")
    cert, key = localaws.self_signed_cert(str(d))
    proc, url = localaws.start_moto_server(str(d / "server.log"), tls=(cert, key),
                                           env={"S3_UPLOAD_PART_MIN_SIZE": "1024"})
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "HDFS2S3_CONFIG"}
        env.update(AWS_ENDPOINT_URL=url, AWS_CA_BUNDLE=cert, AWS_ACCESS_KEY_ID="testing",
                   AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1",
                   AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE=os.devnull,
                   AWS_SHARED_CREDENTIALS_FILE=os.devnull)
        s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1", verify=cert,
                          aws_access_key_id="testing", aws_secret_access_key="testing")
        s3.create_bucket(Bucket=bucket)
        yield env, s3, str(d)
    finally:
        localaws.stop_moto_server(proc)
