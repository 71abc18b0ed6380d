#!/usr/bin/python3
"""Runs botocore's own ec2-protocol code for hostd's conformance tests (roundtrip_test.go).

Reads one JSON document on stdin:
  {"requests":  [{"action": NAME, "params": {...}}],            params as boto3 takes them
   "responses": [{"action": NAME, "status": 200, "body": XML}]}
and writes one:
  {"botocore": VERSION,
   "requests":  [[[key, value], ...]],   the form botocore's ec2 serializer makes
   "responses": [{...}]}                 what botocore's ec2 parser reads from the XML
Timestamps come out as 2006-01-02T15:04:05.000Z, blobs as text.
"""
import datetime
import json
import sys

import botocore
import botocore.session
from botocore import parsers, serialize


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


def main():
    doc = json.load(sys.stdin)
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
    json.dump(out, sys.stdout)


main()
