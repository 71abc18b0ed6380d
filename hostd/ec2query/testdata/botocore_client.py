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

botocore_client.py session (hostd/ec2api's end-to-end tests and make bench): a boto3 client
of the server at $HOSTD_EC2_ENDPOINT, key and region from the environment (AWS_*), one call a
line. Reads JSON lines {"action": NAME, "params": {...}} and answers each with one line: the
output with "_seconds" (the call's own time, serialising for this pipe left out), or
{"Error": {"Code": CODE, "Message": MESSAGE}}. {"raw": NAME} sends a signed POST of that Action,
one boto3 has no method for, answered the same way.

Timestamps come out as 2006-01-02T15:04:05.000Z, blobs as text.
"""
import datetime
import json
import os
import sys
import time
import urllib.error
import urllib.request

import boto3
import botocore
import botocore.session
from botocore import parsers, serialize
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
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


def raw_call(session, endpoint, action):
    body = "Action=%s&Version=2016-11-15" % action
    req = AWSRequest(method="POST", url=endpoint + "/", data=body,
                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(session.get_credentials(), "ec2", os.environ["AWS_DEFAULT_REGION"]).add_auth(req)
    r = urllib.request.Request(endpoint + "/", data=body.encode(), headers=dict(req.headers), method="POST")
    try:
        urllib.request.urlopen(r)
        return {}
    except urllib.error.HTTPError as e:
        parsed = parsers.create_parser("ec2").parse(
            {"body": e.read(), "headers": dict(e.headers), "status_code": e.code}, None)
        return {"Error": parsed["Error"]}


def session():
    endpoint = os.environ["HOSTD_EC2_ENDPOINT"]
    sess = botocore.session.get_session()
    client = boto3.client("ec2", endpoint_url=endpoint, config=Config(retries={"max_attempts": 1}))
    for line in sys.stdin:
        call = json.loads(line)
        start = time.perf_counter()
        try:
            if "raw" in call:
                out = raw_call(sess, endpoint, call["raw"])
            else:
                result = getattr(client, botocore.xform_name(call["action"]))(**call["params"])
                seconds = time.perf_counter() - start
                out = plain(result)
                out["_seconds"] = seconds
        except ClientError as e:
            out = {"Error": {"Code": e.response["Error"]["Code"], "Message": e.response["Error"].get("Message", "")}}
        except botocore.exceptions.ParamValidationError as e:
            out = {"Error": {"Code": "ParamValidation", "Message": str(e)}}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


if sys.argv[1] == "session":
    session()
else:
    modes = {"roundtrip": roundtrip, "boto3": call_boto3}
    json.dump(modes[sys.argv[1]](json.load(sys.stdin)), sys.stdout)
