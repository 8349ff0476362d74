#!/usr/bin/env python3
"""moto_server for the local stack: the pinned moto, with bucket-policy evaluation switched off.

Why: moto 5.2.5 evaluates a bucket policy's Deny statements for object requests without any
request context, so every Deny *with a Condition* applies unconditionally. The snapshot bucket's
policy denies `s3:*` when `aws:SecureTransport` is false and denies deletes to everyone but the
break-glass roles; under moto that refuses the Batch Operations' copies into the bucket and every
read of it. AWS evaluates the conditions. The policy's content is tested by reading it back
(steps/create-bucket/tests); this server is what the demo and the end-to-end tests run.

Usage: python local/moto/moto_server.py -H 127.0.0.1 -p PORT   (same flags as moto_server)
"""

import sys

from moto.iam.access_control import PermissionResult
from moto.s3 import models
from moto.server import main


def _no_policy_evaluation(self, action, resource):  # noqa: ARG001 - moto's signature
    return PermissionResult.NEUTRAL


models.FakeBucket.get_permission = _no_policy_evaluation

if __name__ == "__main__":
    sys.exit(main())
