"""A stand-in for the server at the HTTP level, for unit tests: a ``requests``-like
session whose ``post`` checks the request's MD5 and V2 signature and answers with
headers signed as the server signs them (or deliberately not)."""

import json
from datetime import datetime, timezone
from urllib.parse import urlparse

from tablestore.protobuf import table_store_pb2 as pb

from tablesafe import signing

KEY_ID = "unitKeyId"
SECRET = "unitSecret"
INSTANCE = "unit"
ENDPOINT = "http://127.0.0.1:1"


def error_body(code, message):
    return pb.Error(code=code, message=message).SerializeToString()


class FakeAnswer:
    def __init__(self, status, headers, content, reason="R"):
        self.status_code = status
        self.headers = headers
        self.content = content
        self.reason = reason


def answer(action, status, body, *, contenttype=None, secret=SECRET, key_id=KEY_ID, sign=True,
           tamper=None, date=None):
    """The signed response a TableSafe server sends for ``action``."""
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    headers = {
        "x-ots-contentmd5": signing.content_md5(body),
        "x-ots-requestid": "req-%d" % status,
        "x-ots-date": date or datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "x-ots-contenttype": contenttype or ("application/json" if status == 200
                                             else "protocol buffer"),
    }
    if sign:
        headers["authorization"] = "OTS %s:%s" % (
            key_id, signing.response_signature(secret, action, headers))
    if tamper:
        tamper(headers)
    return FakeAnswer(status, headers, body)


class FakeSession:
    """``handler(action, request_json) -> FakeAnswer``; every request is kept in ``sent``."""

    def __init__(self, handler):
        self.handler = handler
        self.sent = []

    def post(self, url, data, headers, timeout, allow_redirects):
        action = urlparse(url).path.rsplit("/", 1)[-1]
        assert headers["x-ots-contentmd5"] == signing.content_md5(data)
        assert headers["x-ots-signature"] == signing.sign_v2(SECRET, action, headers)
        assert headers["x-ots-accesskeyid"] == KEY_ID
        assert headers["x-ots-instancename"] == INSTANCE
        request = json.loads(data)
        self.sent.append((action, request))
        return self.handler(action, request)
