#!/usr/bin/env python3
"""Sends one HTTP request signed with AWS Signature Version 4 by botocore, and prints what was sent and
what came back as JSON. The input is JSON on stdin, so that credentials never appear on a command line:

  {"method": "POST", "url": "http://127.0.0.1:8080/orders/42?a=1",
   "headers": {"content-type": "application/json"}, "body": "{}",
   "region": "us-east-1", "service": "execute-api",
   "credentials": {"accessKeyId": "...", "secretAccessKey": "...", "sessionToken": "..."},
   "presign": false, "expiresIn": 300}

Output: {"request": {"method", "path", "headers"}, "response": {"status", "headers", "body"}}.
A request that cannot be sent exits 1 with the reason on stderr; any HTTP status is a result.
"""
import http.client
import json
import sys
import urllib.parse

from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def main():
    spec = json.load(sys.stdin)
    method = spec.get("method", "GET")
    url = urllib.parse.urlsplit(spec["url"])
    if url.scheme != "http":
        raise ValueError("only http:// urls (loopback test servers)")
    c = spec["credentials"]
    creds = Credentials(c["accessKeyId"], c["secretAccessKey"], c.get("sessionToken"))
    service, region = spec.get("service", "execute-api"), spec["region"]
    body = spec.get("body")
    request = AWSRequest(method=method, url=spec["url"], data=body, headers=spec.get("headers", {}))
    if spec.get("presign"):
        SigV4QueryAuth(creds, service, region, expires=spec.get("expiresIn", 300)).add_auth(request)
    else:
        SigV4Auth(creds, service, region).add_auth(request)
    prepared = request.prepare()
    sent = urllib.parse.urlsplit(prepared.url)
    path = sent.path + ("?" + sent.query if sent.query else "")
    headers = dict(prepared.headers.items())

    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    conn.putrequest(method, path, skip_host="host" in {k.lower() for k in headers}, skip_accept_encoding=True)
    for k, v in headers.items():
        conn.putheader(k, v)
    payload = prepared.body
    if isinstance(payload, str):
        payload = payload.encode()
    if payload and "content-length" not in {k.lower() for k in headers}:
        conn.putheader("Content-Length", str(len(payload)))
    conn.endheaders(payload or None)
    resp = conn.getresponse()
    data = resp.read(1 << 20)
    json.dump({
        "request": {"method": method, "path": path, "headers": headers},
        "response": {"status": resp.status, "headers": dict(resp.getheaders()), "body": data.decode("utf-8", "replace")},
    }, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # the test reads the reason from stderr
        print(f"signed_request.py: {e}", file=sys.stderr)
        sys.exit(1)
