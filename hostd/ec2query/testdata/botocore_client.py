#!/usr/bin/python3
"""Runs botocore's and boto3's own code for hostd's conformance tests.

botocore_client.py roundtrip (roundtrip_test.go): botocore's ec2 serializer and parser alone.
Reads one JSON document on stdin:
  {"requests":  [{"action": NAME, "params": {...}}],            params as boto3 takes them
   "responses": [{"action": NAME, "status": 200, "body": XML}]}
and writes one:
  {"botocore": VERSION,
   "requests":  [[[key, value], ...]],   the form botocore's ec2 serializer makes
   "responses": [{...}]}                 what botocore's ec2 parser reads from the XML

botocore_client.py boto3 (clients_test.go): a boto3 client calling a server.
Reads {"endpoint": URL, "key": ACCESS_KEY_ID, "calls": [{"action": NAME, "params": {...}}]}
and writes {"results": [{...} or {"error": CODE, "status": HTTP_STATUS}]}.

Timestamps come out as 2006-01-02T15:04:05.000Z, blobs as text.
"""
import datetime
import json
import sys

import boto3
import botocore
import botocore.session
from botocore import parsers, serialize
from botocore.config import Config
from botocore.exceptions import ClientError


def plain(v):
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items() if k != "ResponseMetadata"}
    if isinstance(v, list):
        return [plain(x) for x in v]
    if isinstance(v, datetime.datetime):
        v = v.astimezone(datetime.timezone.utc)
        return v.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (v.microsecond // 1000)
    if isinstance(v, bytes):
        return v.decode()
    return v


def roundtrip(doc):
    model = botocore.session.get_session().get_service_model("ec2")
    serializer = serialize.create_serializer("ec2", include_validation=False)
    parser = parsers.create_parser("ec2")
    out = {"botocore": botocore.__version__, "requests": [], "responses": []}
    for r in doc.get("requests") or []:
        req = serializer.serialize_to_request(r["params"], model.operation_model(r["action"]))
        out["requests"].append([[k, str(v)] for k, v in req["body"].items()])
    for r in doc.get("responses") or []:
        op = model.operation_model(r["action"])
        parsed = parser.parse(
            {"body": r["body"].encode(), "headers": {}, "status_code": r["status"]},
            op.output_shape,
        )
        out["responses"].append(plain(parsed))
    return out


def call_boto3(doc):
    client = boto3.client(
        "ec2",
        endpoint_url=doc["endpoint"],
        region_name="us-east-1",
        aws_access_key_id=doc["key"],
        aws_secret_access_key="x" * 40,
        config=Config(retries={"max_attempts": 1}),
    )
    results = []
    for c in doc["calls"]:
        method = getattr(client, botocore.xform_name(c["action"]))
        try:
            results.append(plain(method(**c["params"])))
        except ClientError as e:
            results.append({"error": e.response["Error"]["Code"],
                            "status": e.response["ResponseMetadata"]["HTTPStatusCode"]})
    return {"boto3": boto3.__version__, "results": results}


modes = {"roundtrip": roundtrip, "boto3": call_boto3}
json.dump(modes[sys.argv[1]](json.load(sys.stdin)), sys.stdout)
