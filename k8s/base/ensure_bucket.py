"""Create the MLflow artifact bucket if it does not exist yet (init container of the MLflow pod).

Reads ARTIFACTS_DESTINATION (``s3://bucket[/prefix]``), the usual AWS_* variables and, for an
S3-compatible store such as MinIO, MLFLOW_S3_ENDPOINT_URL. Retries while the store starts up.
"""

from __future__ import annotations

import os
import sys
import time
from urllib.parse import urlparse

import boto3
from botocore.exceptions import ClientError, EndpointConnectionError

ATTEMPTS = 60
DELAY_S = 5.0


def bucket_name(destination: str) -> str:
    parsed = urlparse(destination)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise SystemExit(f"ARTIFACTS_DESTINATION must look like s3://bucket, got {destination!r}")
    return parsed.netloc


def ensure(bucket: str) -> str:
    client = boto3.client("s3", endpoint_url=os.environ.get("MLFLOW_S3_ENDPOINT_URL") or None)
    try:
        client.head_bucket(Bucket=bucket)
        return "exists"
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") not in {"404", "NoSuchBucket"}:
            raise
    client.create_bucket(Bucket=bucket)
    return "created"


def main() -> int:
    bucket = bucket_name(os.environ["ARTIFACTS_DESTINATION"])
    for attempt in range(1, ATTEMPTS + 1):
        try:
            print(f"bucket {bucket}: {ensure(bucket)}", flush=True)
            return 0
        except EndpointConnectionError as err:
            # The object store may still be starting; anything else is a real error.
            print(f"attempt {attempt}/{ATTEMPTS}: {err}", file=sys.stderr, flush=True)
            time.sleep(DELAY_S)
    return 1


if __name__ == "__main__":
    sys.exit(main())
