"""hdfs2s3kit: composable filters that move files from HDFS into Amazon S3 safely."""

__version__ = "0.1.0"
