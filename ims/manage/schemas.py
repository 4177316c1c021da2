"""Request bodies of the management API. Unknown fields are errors (extra="forbid")."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Access = Literal["public", "signed", "private"]
Scheme = Literal["hmac-sha256", "imgix-md5"]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StorageFields(Body):
    path: str | None = Field(None, description="fs: an existing directory inside IMS_FS_ROOTS")
    bucket: str | None = Field(None, description="s3: bucket name; fs destinations: the label reported in object_puts")
    prefix: str | None = Field(None, description="s3: key prefix inside the bucket")
    endpoint_url: str | None = Field(None, description="s3: any S3-compatible endpoint (default AWS)")
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None


class SourceFields(StorageFields):
    base_url: str | None = Field(None, description="http: the web folder's base URL")
    access: Access | None = None
    signature: Scheme | None = None
    signing_key: str | None = Field(None, min_length=16, max_length=200)
    hostnames: list[str] | None = None
    cache_control: str | None = Field(None, max_length=200)


class SourceCreate(SourceFields):
    name: str
    kind: Literal["fs", "s3", "http"]


class SourcePatch(SourceFields):
    name: str | None = None


class SignedUrlCreate(Body):
    object_key: str = Field(max_length=1024)
    parameters: dict[str, str | int | float | bool] = Field(default_factory=dict,
                                                            description="on-demand parameters, e.g. {\"w\": 300}")
    expires: int | None = Field(None, description="unix seconds after which the URL answers 410")


class DestinationCreate(StorageFields):
    name: str
    kind: Literal["fs", "s3"]


class DestinationPatch(StorageFields):
    name: str | None = None


class EndpointCreate(Body):
    url: str = Field(max_length=2000)
    description: str = Field("", max_length=500)
    enabled: bool = True


class EndpointPatch(Body):
    url: str | None = Field(None, max_length=2000)
    description: str | None = Field(None, max_length=500)
    enabled: bool | None = None


class KeyCreate(Body):
    name: str = Field("", max_length=200)
