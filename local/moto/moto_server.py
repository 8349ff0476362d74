#!/usr/bin/env python3
"""moto_server for the local stack: the pinned moto, with three of its S3 faults mended.

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

ListParts: moto 5.2.5 answers it with the root element `ListPartsResponse`; S3 (and the SDKs'
model) says `ListPartsResult`, and the Rust SDK refuses any other root (an unhandled error with
HTTP 200). plan-large-copy, copy-parts and complete-large-copy read an upload's parts with it (the
parts are the truth of a resumable copy); the mended answer carries the same document under
S3's root element.

Step Functions (`--lambda-endpoint URL`, like Step Functions Local's flag of that name): moto 5.2.5 carries an
executing Step Functions backend (the ASL interpreter ported from LocalStack), off by default. With the flag:
  * execution is on from the start (`stepfunctions.execute_state_machine`), so state machines created through the
    API run;
  * the interpreter's Lambda calls (lambda:invoke tasks) go to URL — `lakevault-local serve`, which runs the step
    binaries — instead of moto's own port, where no function runs. A function error comes back with
    `X-Amz-Function-Error`, so its errorType reaches Retry/Catch by name. Every other service call the interpreter
    makes (S3, SNS, states:startExecution for child executions) still goes to this moto — at its own port
    (`MOTO_PORT`, which the interpreter reads and which defaults to 5000, is set from `-p`).
  * the `states:startExecution(.sync:2)` task (a child execution) works: moto's port leaves out LocalStack's
    translation between the task's PascalCase fields and boto3's camelCase ones, so every such task fails with
    `States.Runtime` ('StateMachineArn'). The mend translates the request (StateMachineArn → stateMachineArn) and
    the answer (executionArn → ExecutionArn, …; the child's input and output JSON untouched), as AWS shows them.
`--wait-time-scale F` (like Step Functions Local's): Wait states and Retry intervals last F times as long (0.01: a
60 s poll takes 0.6 s), so local runs are fast and the deployed definitions run unpatched.

Usage: python local/moto/moto_server.py [--lambda-endpoint URL] [--wait-time-scale F] -H 127.0.0.1 -p PORT
(the other flags are moto_server's)
"""


import os
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


_original_list_parts = S3Response.list_parts


def _list_parts(self):
    """moto's answer under S3's root element; the Content-Length follows the new body."""
    status, headers, body = _original_list_parts(self)
    as_bytes = body.encode() if isinstance(body, str) else body
    as_bytes = as_bytes.replace(b"<ListPartsResponse", b"<ListPartsResult", 1)
    as_bytes = as_bytes.replace(b"</ListPartsResponse>", b"</ListPartsResult>", 1)
    for name in list(headers):
        if name.lower() == "content-length":
            headers[name] = str(len(as_bytes))
    return status, headers, as_bytes


S3Response.list_parts = _list_parts



def _take_flag(argv, name):
    """Removes `name VALUE` from argv (moto_server would refuse it); returns VALUE or None."""
    if name not in argv:
        return None
    i = argv.index(name)
    if i + 1 >= len(argv):
        sys.exit(f"moto_server.py: {name} needs a value")
    value = argv[i + 1]
    del argv[i : i + 2]
    return value


def _route_lambda_to(endpoint):
    """The interpreter's boto3 clients for `lambda` use `endpoint`; others are unchanged."""
    import boto3
    from moto.core.config import default_user_config
    from moto.stepfunctions.parser.asl.utils import boto_client

    default_user_config["stepfunctions"]["execute_state_machine"] = True

    class _Boto3:
        """boto_client_for() calls `boto3.client(...)`: only that call is redirected."""

        def __getattr__(self, name):
            return getattr(boto3, name)

        @staticmethod
        def client(*args, **kwargs):
            if kwargs.get("service_name") == "lambda":
                kwargs["endpoint_url"] = endpoint
            return boto3.client(*args, **kwargs)

    boto_client.boto3 = _Boto3()


def _pascal(value, keep=("Input", "Output")):
    """boto3's camelCase keys as Step Functions' task results spell them; user JSON untouched."""
    if isinstance(value, list):
        return [_pascal(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for k, v in value.items():
        key = k[:1].upper() + k[1:]
        out[key] = v if key in keep else _pascal(v)
    return out


def _mend_start_execution():
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_sfn as sfn,
    )

    cls = sfn.StateTaskServiceSfn
    original = cls._normalise_parameters

    def _normalise_parameters(self, parameters, boto_service_name=None, service_action_name=None):
        original(self, parameters, boto_service_name, service_action_name)
        if service_action_name is None:
            for key in list(parameters):
                parameters[key[:1].lower() + key[1:]] = parameters.pop(key)

    def _normalise_response(self, response, boto_service_name=None, service_action_name=None):
        if isinstance(response, dict):
            mended = _pascal(response)
            response.clear()
            response.update(mended)

    cls._normalise_parameters = _normalise_parameters
    cls._normalise_response = _normalise_response


def _scale_waits(scale):
    """Wait states and Retry intervals last `scale` times as long."""
    import time

    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function import wait_function

    def _eval_body(self, env):
        seconds = self._get_wait_seconds(env=env) * scale
        # One wait (moto's own re-enters while whole seconds remain, which a fraction never ends).
        if seconds > 0:
            env.program_state_event.wait(seconds)

    wait_function.WaitFunction._eval_body = _eval_body

    class _Time:
        def __getattr__(self, name):
            return getattr(time, name)

        @staticmethod
        def sleep(seconds):
            time.sleep(seconds * scale)

    retrier_decl.time = _Time()


if __name__ == "__main__":
    _endpoint = _take_flag(sys.argv, "--lambda-endpoint")
    _scale = _take_flag(sys.argv, "--wait-time-scale")
    if _endpoint:
        _route_lambda_to(_endpoint)
        _mend_start_execution()
        if "-p" in sys.argv[:-1]:
            os.environ["MOTO_PORT"] = sys.argv[sys.argv.index("-p") + 1]
    if _scale is not None:
        try:
            _factor = float(_scale)
        except ValueError:
            sys.exit(f"moto_server.py: --wait-time-scale {_scale!r} is not a number")
        if not 0 <= _factor <= 1000:
            sys.exit("moto_server.py: --wait-time-scale must be between 0 and 1000")
        _scale_waits(_factor)
    sys.exit(main())
