#!/usr/bin/env python3
"""Sends one HTTP request with requests, signed with AWS Signature Version 4 by aws-requests-auth
(AWSRequestsAuth, as API Gateway IAM-auth clients use it), and prints what was sent and what came back as
JSON. The input is JSON on stdin, so that credentials never appear on a command line:

  {"method": "POST", "url": "http://127.0.0.1:8080/orders/42?a=1",
   "headers": {"content-type": "application/json"}, "body": "{}",
   "region": "us-east-1", "service": "execute-api",
   "credentials": {"accessKeyId": "...", "secretAccessKey": "...", "sessionToken": "..."}}

aws-requests-auth signs host, x-amz-date and x-amz-security-token only, and sends x-amz-content-sha256
unsigned. It does not presign. The query must be already encoded (the library signs it as given).

Output: {"request": {"method", "path", "headers"}, "response": {"status", "headers", "body"}}.
A request that cannot be sent exits 1 with the reason on stderr; any HTTP status is a result.
"""
import json
import sys
import urllib.parse

import requests
from aws_requests_auth.aws_auth import AWSRequestsAuth


def main():
    spec = json.load(sys.stdin)
    method = spec.get("method", "GET")
    url = urllib.parse.urlsplit(spec["url"])
    if url.scheme != "http":
        raise ValueError("only http:// urls (loopback test servers)")
    c = spec["credentials"]
    auth = AWSRequestsAuth(aws_access_key=c["accessKeyId"], aws_secret_access_key=c["secretAccessKey"],
                           aws_token=c.get("sessionToken"), aws_host=url.netloc,
                           aws_region=spec["region"], aws_service=spec.get("service", "execute-api"))
    body = (spec.get("body") or "").encode() or None
    with requests.Session() as session:
        session.trust_env = False  # no proxy, netrc or CA bundle from the machine
        resp = session.request(method, spec["url"], data=body, headers=spec.get("headers", {}), auth=auth,
                               timeout=10, allow_redirects=False)
    sent = resp.request
    path = urllib.parse.urlsplit(sent.url)
    json.dump({
        "request": {"method": sent.method, "path": path.path + ("?" + path.query if path.query else ""),
                    "headers": dict(sent.headers.items())},
        "response": {"status": resp.status_code, "headers": dict(resp.headers.items()),
                     "body": resp.content[:1 << 20].decode("utf-8", "replace")},
    }, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # the test reads the reason from stderr
        print(f"requests_auth_request.py: {e}", file=sys.stderr)
        sys.exit(1)
