"""Helpers for the tests against a real S3 API on loopback (moto's server mode, started by conftest.py)."""
from __future__ import annotations

import socket
import uuid
from dataclasses import dataclass

from automl.config import Settings

AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@dataclass(frozen=True)
class S3:
    endpoint: str

    def client(self):  # boto3, to look at and tamper with the bucket behind the platform's back
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, **_boto_credentials())

    def new_bucket(self) -> str:
        name = f"automl-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def _boto_credentials() -> dict[str, str]:
    return {"aws_access_key_id": AWS_ENV["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": AWS_ENV["AWS_SECRET_ACCESS_KEY"], "region_name": AWS_ENV["AWS_DEFAULT_REGION"]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])



def bucket_of(settings: Settings) -> tuple[str, str]:
    assert settings.storage_url is not None
    bucket, _, prefix = settings.storage_url.removeprefix("s3://").partition("/")
    return bucket, prefix


def stored_locally(settings: Settings) -> list[str]:
    """Files under the data dir's store areas: with an object store, there must be none."""
    return sorted(str(p.relative_to(settings.data_dir)) for area in ("datasets", "artifacts", "predictions")
                  for p in (settings.data_dir / area).rglob("*") if p.is_file())
