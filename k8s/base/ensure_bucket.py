"""Create the buckets rdlab writes to if they do not exist yet (init container of the MLflow pod).

Reads ARTIFACTS_DESTINATION (MLflow's ``s3://bucket[/prefix]``) and, when set, RUNS_STORAGE
(the studies' ``--storage``, ``s3://bucket/prefix``; the minio component sets it so that one
MinIO serves both), the usual AWS_* variables and, for an S3-compatible store such as MinIO,
MLFLOW_S3_ENDPOINT_URL (else boto3's own AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL). Retries while
the store starts up.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

import boto3
from botocore.exceptions import ClientError, EndpointConnectionError

ATTEMPTS = 60
DELAY_S = 5.0
VARIABLES = ("ARTIFACTS_DESTINATION", "RUNS_STORAGE")  # the first is required


def bucket_name(destination: str, variable: str = "ARTIFACTS_DESTINATION") -> str:
    parsed = urlparse(destination)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise SystemExit(f"{variable} must look like s3://bucket, got {destination!r}")
    return parsed.netloc


def buckets(env: Mapping[str, str]) -> list[str]:
    """The buckets named by ARTIFACTS_DESTINATION and RUNS_STORAGE, each once, in order."""
    names = [bucket_name(env["ARTIFACTS_DESTINATION"])]
    for variable in VARIABLES[1:]:
        if env.get(variable):
            names.append(bucket_name(env[variable], variable))
    return list(dict.fromkeys(names))


def ensure(bucket: str, client: Any = None) -> str:
    s3 = client or boto3.client("s3", endpoint_url=os.environ.get("MLFLOW_S3_ENDPOINT_URL") or None)
    try:
        s3.head_bucket(Bucket=bucket)
        return "exists"
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") not in {"404", "NoSuchBucket"}:
            raise
    s3.create_bucket(Bucket=bucket)
    return "created"


def main() -> int:
    pending = buckets(os.environ)
    for attempt in range(1, ATTEMPTS + 1):
        try:
            while pending:
                print(f"bucket {pending[0]}: {ensure(pending[0])}", flush=True)
                pending.pop(0)
            return 0
        except EndpointConnectionError as err:
            # The object store may still be starting; anything else is a real error.
            print(f"attempt {attempt}/{ATTEMPTS}: {err}", file=sys.stderr, flush=True)
            time.sleep(DELAY_S)
    return 1


if __name__ == "__main__":
    sys.exit(main())
