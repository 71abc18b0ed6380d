#!/usr/bin/python3
"""A boto3 EC2 client for hostd's end-to-end tests, one call a line.

Reads JSON lines {"action": NAME, "params": {...}} (params as boto3 takes them) and answers each
with one line: the output, or {"Error": {"Code": CODE, "Message": MESSAGE}}. Or, for an action
boto3 has no method for, {"raw": NAME}: a signed POST with that Action, answered the same way.
Each output has "_seconds": how long the call took, client work included, serialising the
answer for this pipe not. Endpoint, key and region come from the environment (HOSTD_EC2_ENDPOINT, AWS_*).
"""
import datetime
import json
import os
import sys
import time

import boto3
import botocore
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
        return v.isoformat()
    if isinstance(v, bytes):
        return v.decode()
    return v


def raw(session, endpoint, action):
    body = "Action=%s&Version=2016-11-15" % action
    req = AWSRequest(method="POST", url=endpoint + "/", data=body,
                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(session.get_credentials(), "ec2", os.environ["AWS_DEFAULT_REGION"]).add_auth(req)
    import urllib.request
    r = urllib.request.Request(endpoint + "/", data=body.encode(), headers=dict(req.headers), method="POST")
    try:
        urllib.request.urlopen(r)
        return {}
    except urllib.error.HTTPError as e:
        parsed = botocore.parsers.create_parser("ec2").parse(
            {"body": e.read(), "headers": dict(e.headers), "status_code": e.code}, None)
        return {"Error": parsed["Error"]}


def main():
    endpoint = os.environ["HOSTD_EC2_ENDPOINT"]
    session = botocore.session.get_session()
    client = boto3.client("ec2", endpoint_url=endpoint, config=Config(retries={"max_attempts": 1}))
    for line in sys.stdin:
        call = json.loads(line)
        start = time.perf_counter()
        try:
            if "raw" in call:
                out = raw(session, endpoint, call["raw"])
            else:
                method = getattr(client, botocore.xform_name(call["action"]))
                result = method(**call["params"])
                seconds = time.perf_counter() - start
                out = plain(result)
                out["_seconds"] = seconds
        except ClientError as e:
            out = {"Error": {"Code": e.response["Error"]["Code"], "Message": e.response["Error"].get("Message", "")}}
        except botocore.exceptions.ParamValidationError as e:
            out = {"Error": {"Code": "ParamValidation", "Message": str(e)}}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


main()
