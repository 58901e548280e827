"""Real IAM in the local server: a user, its access key, a role that trusts
exactly that user, and the role's permissions; then enforcement switched on.

moto matches a trust principal against the exact caller ARN (an account root
ARN does not match), and enforcement is global to the server, so the
`aws_env` fixture switches it off again after each test.
"""

import json

S3_ALL = ["s3:PutObject", "s3:GetObject", "s3:ListBucket", "s3:AbortMultipartUpload",
          "s3:ListMultipartUploadParts", "s3:ListBucketMultipartUploads", "s3:DeleteObject"]


def make_role(boto_session, *, name, actions, bucket="*", user="uploader"):
    """Create user + key + role(actions on bucket); returns dict(env=..., role_arn=..., user_arn=...).

    `env` holds the user's own keys: the starting point of the standard chain
    that AssumeRole is called with.
    """
    iam = boto_session.client("iam")
    try:
        u = iam.get_user(UserName=user)["User"]
    except iam.exceptions.NoSuchEntityException:
        u = iam.create_user(UserName=user)["User"]
    key = iam.create_access_key(UserName=user)["AccessKey"]
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": u["Arn"]}, "Action": "sts:AssumeRole"}]}
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    res = "*" if bucket == "*" else [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]
    iam.put_role_policy(RoleName=name, PolicyName=name + "-s3", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": res}]}))
    iam.put_user_policy(UserName=user, PolicyName=f"assume-{name}", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role["Arn"]}]}))
    return {"role_arn": role["Arn"], "user_arn": u["Arn"],
            "env": {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}}
