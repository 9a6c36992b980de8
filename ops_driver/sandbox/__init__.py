"""The sandbox: moto (AWS API), a web stack and the ESA simulator on 127.0.0.1 (see ``aws``, ``web``, ``esa``)."""

from __future__ import annotations

from . import esa, procs, web
from .aws import (
    BUCKET,
    BUCKET_OBJECTS,
    CREDENTIALS,
    ESTATE_ENVIRONMENTS,
    HOST,
    REGION,
    ROLES,
    SandboxState,
    allocate_hosts,
    down,
    ec2_client,
    instance_name,
    instances,
    launch,
    s3_client,
    seed,
    seed_datastage,
    seed_nas,
    state,
    status,
    up,
)

__all__ = ["BUCKET", "BUCKET_OBJECTS", "CREDENTIALS", "ESTATE_ENVIRONMENTS", "HOST", "REGION", "ROLES",
    "SandboxState", "allocate_hosts", "down", "ec2_client", "esa", "instance_name", "instances", "launch",
    "procs", "s3_client", "seed", "seed_datastage", "seed_nas", "state", "status", "up", "web"]
