"""SigV4 signing (hdfs2s3kit.sigv4) against AWS's published examples."""

from hdfs2s3kit import sigv4

DOC_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


def test_signing_key_of_the_iam_documentation_example():
    key = sigv4.signing_key(DOC_SECRET, "20150830", "us-east-1", "iam")
    assert key.hex() == "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"


def test_sigv4_test_suite_get_vanilla():
    h = {"host": "example.amazonaws.com"}
    sigv4.sign("GET", "/", [], h, payload_hash=sigv4.EMPTY_SHA256, access_key="AKIDEXAMPLE", secret_key=DOC_SECRET,
               region="us-east-1", service="service", amz_date="20150830T123600Z")
    assert h["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=host;x-amz-date, "
        "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")


def test_iam_list_users_documentation_example():
    h = {"host": "iam.amazonaws.com", "content-type": "application/x-www-form-urlencoded; charset=utf-8"}
    sigv4.sign("GET", "/", [("Action", "ListUsers"), ("Version", "2010-05-08")], h,
               payload_hash=sigv4.EMPTY_SHA256, access_key="AKIDEXAMPLE", secret_key=DOC_SECRET,
               region="us-east-1", service="iam", amz_date="20150830T123600Z")
    assert h["Authorization"].endswith(
        "SignedHeaders=content-type;host;x-amz-date, "
        "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7")


def test_s3_get_object_documentation_example():
    # S3 API reference, "Signature Calculations for the Authorization Header", GET Object
    h = {"host": "examplebucket.s3.amazonaws.com", "range": "bytes=0-9"}
    sigv4.sign("GET", "/test.txt", [], h, payload_hash=sigv4.EMPTY_SHA256, access_key="AKIAIOSFODNN7EXAMPLE",
               secret_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", region="us-east-1", service="s3",
               amz_date="20130524T000000Z")
    assert h["x-amz-content-sha256"] == sigv4.EMPTY_SHA256
    assert h["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")


def test_canonical_query_sorts_and_encodes_and_flags_have_empty_values():
    assert sigv4.canonical_query([("uploads", ""), ("prefix", "a b/c")]) == "prefix=a%20b%2Fc&uploads="
    assert sigv4.canonical_query([("b", "2"), ("a", "~x*")]) == "a=~x%2A&b=2"


def test_session_token_is_a_signed_header():
    h = {"host": "s3.amazonaws.com"}
    sigv4.sign("PUT", "/b/k", [], h, payload_hash=sigv4.UNSIGNED_PAYLOAD, access_key="AK", secret_key="SK",
               token="TOKEN", region="us-east-1", service="s3", amz_date="20260101T000000Z")
    assert h["x-amz-security-token"] == "TOKEN" and "x-amz-security-token" in h["Authorization"]
    assert h["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD"


def test_user_agent_is_not_signed():
    h = {"host": "example.amazonaws.com", "user-agent": "x/1"}
    sigv4.sign("GET", "/", [], h, payload_hash=sigv4.EMPTY_SHA256, access_key="AKIDEXAMPLE", secret_key=DOC_SECRET,
               region="us-east-1", service="service", amz_date="20150830T123600Z")
    assert "SignedHeaders=host;x-amz-date," in h["Authorization"]
