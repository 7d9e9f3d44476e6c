"""Protocol-level checks with hand-made HTTP requests (reference sections 1 and 2).

Bodies are built with the SDK's generated protobuf classes; signatures are computed here.
"""

import re
from datetime import datetime, timedelta, timezone

import pytest
from tablestore.protobuf import table_store_pb2 as pb

from sdk_helpers import (
    ACCESS_KEY_ID,
    ACCESS_KEY_SECRET,
    content_md5,
    ots_date,
    raw_request,
    response_signature,
    sign_v2,
    signed_headers,
    unique_name,
)

DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{1,6}Z$")


def _post(server, action, body=b"", **kw):
    return raw_request(server.port, "/" + action, body, signed_headers(action, body, **kw))


def _assert_error(resp, status, *codes):
    assert resp.status == status, (resp.status, resp.body[:200])
    code, message = resp.error()
    if codes:
        assert code in codes, (code, message)
    assert resp.headers.get("x-ots-requestid"), "error responses must carry x-ots-requestid"
    if "x-ots-contentmd5" in resp.headers:
        assert resp.headers["x-ots-contentmd5"] == content_md5(resp.body)
    return code, message


def _assert_signed_response(resp, action):
    h = resp.headers
    for name in ("x-ots-contentmd5", "x-ots-requestid", "x-ots-date", "x-ots-contenttype"):
        assert name in h, "missing response header %s" % name
        assert h[name] == h[name].strip()
    assert h["x-ots-contentmd5"] == content_md5(resp.body)
    assert DATE_RE.match(h["x-ots-date"]), h["x-ots-date"]
    date = datetime.strptime(h["x-ots-date"][:19], "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=timezone.utc)
    assert abs((datetime.now(timezone.utc) - date).total_seconds()) < 15 * 60
    assert int(h["content-length"]) == len(resp.body)
    auth = h.get("authorization")
    assert auth is not None and auth.startswith("OTS ")
    key_id, _, sig = auth[4:].partition(":")
    assert key_id == ACCESS_KEY_ID
    assert sig == response_signature(ACCESS_KEY_SECRET, action, h)


def test_list_table_raw_response_is_well_formed(server, simple_table):
    resp = _post(server, "ListTable")
    assert resp.status == 200, resp.body
    _assert_signed_response(resp, "ListTable")
    msg = pb.ListTableResponse()
    msg.ParseFromString(resp.body)
    assert simple_table in list(msg.table_names)


def test_describe_table_raw(server, simple_table):
    body = pb.DescribeTableRequest(table_name=simple_table).SerializeToString()
    resp = _post(server, "DescribeTable", body)
    assert resp.status == 200
    _assert_signed_response(resp, "DescribeTable")
    msg = pb.DescribeTableResponse()
    msg.ParseFromString(resp.body)
    assert msg.table_meta.table_name == simple_table
    assert msg.HasField("reserved_throughput_details")
    assert msg.reserved_throughput_details.capacity_unit.HasField("read")
    assert msg.reserved_throughput_details.capacity_unit.HasField("write")
    assert msg.table_options.HasField("time_to_live")
    assert msg.table_options.HasField("max_versions")
    assert msg.table_options.HasField("deviation_cell_version_in_sec")


def test_error_response_is_well_formed(server):
    body = pb.DescribeTableRequest(table_name=unique_name("missing")).SerializeToString()
    resp = _post(server, "DescribeTable", body)
    _assert_error(resp, 404, "OTSObjectNotExist")
    if "authorization" in resp.headers:
        # Python verifies a present authorization header on non-403 errors
        key_id, _, sig = resp.headers["authorization"][4:].partition(":")
        assert sig == response_signature(ACCESS_KEY_SECRET, "DescribeTable", resp.headers)


def test_unknown_action(server):
    resp = _post(server, "NoSuchAction")
    code, message = _assert_error(resp, 400, "OTSParameterInvalid")
    assert "NoSuchAction" in message


def test_bad_content_md5(server):
    body = pb.DescribeTableRequest(table_name="x").SerializeToString()
    resp = _post(server, "DescribeTable", body, md5=content_md5(b"something else"))
    _assert_error(resp, 403, "OTSAuthFailed")


def test_bad_signature(server):
    resp = _post(server, "ListTable", secret="not-the-secret")
    _assert_error(resp, 403, "OTSAuthFailed")


def test_missing_signature(server):
    resp = _post(server, "ListTable", sign=False)
    assert (resp.status, resp.error()[0]) in [(400, "OTSParameterInvalid"),
                                              (403, "OTSAuthFailed")], (resp.status, resp.error())
    assert resp.headers.get("x-ots-requestid")


@pytest.mark.parametrize("header", ["x-ots-date", "x-ots-accesskeyid", "x-ots-instancename",
                                    "x-ots-contentmd5", "x-ots-apiversion"])
def test_missing_required_header(server, header):
    resp = _post(server, "ListTable", drop=[header])
    _assert_error(resp, 400, "OTSParameterInvalid")


def test_bad_date_format(server):
    resp = _post(server, "ListTable", date="yesterday at noon")
    _assert_error(resp, 400, "OTSParameterInvalid")


@pytest.mark.parametrize("minutes", [20, -20])
def test_clock_skew_rejected(server, minutes):
    when = datetime.now(timezone.utc) + timedelta(minutes=minutes)
    resp = _post(server, "ListTable", date=ots_date(when))
    _assert_error(resp, 403, "OTSAuthFailed")


def test_small_clock_skew_accepted(server):
    when = datetime.now(timezone.utc) - timedelta(minutes=5)
    resp = _post(server, "ListTable", date=ots_date(when))
    assert resp.status == 200


def test_go_style_garbage_date_fraction_accepted(server):
    # Go SDK formats the fraction with layout ".123" = month/day/hour digits (pitfall 1)
    now = datetime.now(timezone.utc)
    date = now.strftime("%Y-%m-%dT%H:%M:%S") + ".%d%d%dZ" % (now.month, now.day,
                                                              now.hour % 12 or 12)
    resp = _post(server, "ListTable", date=date)
    assert resp.status == 200, resp.error() if resp.body else resp.status


def test_header_names_case_insensitive(server):
    headers = signed_headers("ListTable", b"")
    go_style = {"-".join(p.capitalize() for p in k.split("-")): v for k, v in headers.items()}
    assert "X-Ots-Signature" in go_style
    resp = raw_request(server.port, "/ListTable", b"", go_style)
    assert resp.status == 200
    _assert_signed_response(resp, "ListTable")


def test_non_post_method(server):
    headers = signed_headers("ListTable", b"")
    resp = raw_request(server.port, "/ListTable", b"", headers, method="GET")
    assert resp.status == 405
    code, _ = resp.error()
    assert code == "OTSMethodNotAllowed"


def test_garbage_protobuf_body(server):
    resp = _post(server, "DescribeTable", b"\xff\xff\xff\xff\x0f\x01garbage")
    _assert_error(resp, 400, "OTSParameterInvalid")


def test_missing_required_protobuf_field(server):
    # DescribeTableRequest.table_name is `required`; an empty body lacks it
    resp = _post(server, "DescribeTable", b"")
    _assert_error(resp, 400, "OTSParameterInvalid")


def test_raw_v2_signature_helper_matches_reference_vector():
    # reference 1.4 / 2.1 capture
    headers = {
        "x-ots-date": "2026-11-23T23:30:50.000Z",
        "x-ots-apiversion": "2015-12-31",
        "x-ots-accesskeyid": "myAccessKeyId",
        "x-ots-instancename": "dev",
        "x-ots-contentmd5": "1B2M2Y8AsgTpgAmY7PhCfg==",
    }
    assert sign_v2("myAccessKeySecret", "ListTable", headers) == "ylOg3YAvj2Dx1s4cI2gQoK8lzB4="
    assert response_signature("myAccessKeySecret", "ListTable", {
        "x-ots-contentmd5": "ktO/iisaN8pCDUoXLlxoSg==",
        "x-ots-contenttype": "protocol buffer",
        "x-ots-date": "2026-01-01T00:00:00.000000Z",
        "x-ots-requestid": "0005aedd-5b9e-9b48-a5c1-720b12a7b4bb",
    }) == "YGVYfp8iTj1uuqEmlJZKyaIOftE="


def test_server_survives_abrupt_client_disconnect(server):
    import socket
    s = socket.create_connection(("127.0.0.1", server.port))
    s.sendall(b"POST /ListTable HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\npartial")
    s.close()
    resp = _post(server, "ListTable")
    assert resp.status == 200
