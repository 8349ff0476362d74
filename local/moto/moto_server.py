#!/usr/bin/env python3
"""moto_server for the local stack: the pinned moto, with two of its S3 faults mended.

Why: moto 5.2.5 evaluates a bucket policy's Deny statements for object requests without any
request context, so every Deny *with a Condition* applies unconditionally. The snapshot bucket's
policy denies `s3:*` when `aws:SecureTransport` is false and denies deletes to everyone but the
break-glass roles; under moto that refuses the Batch Operations' copies into the bucket and every
read of it. AWS evaluates the conditions. The policy's content is tested by reading it back
(steps/create-bucket/tests); this server is what the demo and the end-to-end tests run.

Inventory configurations: moto 5.2.5 stores them but reads them back wrong: IncludedObjectVersions
is always "All", the destination's encryption comes back empty and a single optional field as a
string. onboard-source compares the bucket's configuration with the one it wants, so a re-run is
a no-op; against the unmended moto every re-run would see a difference. The mended read returns
what was put, as S3 does.

Usage: python local/moto/moto_server.py -H 127.0.0.1 -p PORT   (same flags as moto_server)
"""

import sys

from moto.core.responses import ActionResult
from moto.iam.access_control import PermissionResult
from moto.s3 import models
from moto.s3.responses import S3Response
from moto.server import main


def _no_policy_evaluation(self, action, resource):  # noqa: ARG001 - moto's signature
    return PermissionResult.NEUTRAL


models.FakeBucket.get_permission = _no_policy_evaluation


def _as_list(value):
    """xmltodict gives one repeated element as a scalar, several as a list."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _inventory_as_put(raw):
    """An inventory configuration, as parsed from the PUT body, in the shape moto serialises."""
    destination = dict(raw["Destination"]["S3BucketDestination"])
    encryption = destination.pop("Encryption", None) or {}
    if "SSE-S3" in encryption:
        destination["Encryption"] = {"SSES3": {}}
    elif "SSE-KMS" in encryption:
        destination["Encryption"] = {"SSEKMS": {"KeyId": encryption["SSE-KMS"]["KeyId"]}}
    config = {
        "Destination": {"S3BucketDestination": destination},
        "IsEnabled": str(raw["IsEnabled"]).lower() == "true",
        "Id": raw["Id"],
        "IncludedObjectVersions": raw["IncludedObjectVersions"],
        "Schedule": raw["Schedule"],
    }
    if raw.get("Filter"):
        config["Filter"] = raw["Filter"]
    fields = _as_list((raw.get("OptionalFields") or {}).get("Field"))
    if fields:
        config["OptionalFields"] = fields
    return config


_original_config_from_body = S3Response._inventory_config_from_body


def _inventory_config_from_body(self):
    raw = _original_config_from_body(self)
    # Kept per bucket and id; the backend keeps its own (lossy) copy as well.
    _PUT[(self.bucket_name, raw["Id"])] = _inventory_as_put(raw)
    return raw


def _get_inventory(self):
    config_id = self.querystring["id"][0]
    # The backend raises NoSuchBucket / the missing-configuration error as before.
    self.backend.get_bucket_inventory_configuration(bucket_name=self.bucket_name, id=config_id)
    self.data["Action"] = "GetBucketInventoryConfiguration"
    config = _PUT[(self.bucket_name, config_id)]
    return self.serialized(ActionResult({"InventoryConfiguration": config}))


_PUT = {}
S3Response._inventory_config_from_body = _inventory_config_from_body
S3Response.get_bucket_inventory_configuration = _get_inventory

if __name__ == "__main__":
    sys.exit(main())
