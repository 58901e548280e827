"""The credential options that s3-put-sts and s3-get-sts share, defined once so
their names, defaults and help stay the same in both. argspec declarations: the filters
read them without importing typer (argspec)."""

from .argspec import Option

ROLE_ARN = Option(None, "--role-arn", help="Role to assume (default: role_arn from the config).")
ASSUME_ROLE = Option(True, "--assume-role/--no-assume-role",
                     help="--no-assume-role: use the standard credential chain as is.")
CONFIG = Option(None, "--config", metavar="PREFIX", help="SSM config prefix [env HDFS2S3_CONFIG].")
SESSION_DURATION = Option(3600, "--session-duration", min=900, max=43200,
                          help="STS session seconds (refreshed before expiry).")
