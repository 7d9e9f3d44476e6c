"""Signing and response verification against the vectors of the protocol notes
(/work/shared/reference/tablestore-protocol.md, sections 1.4, 1.6, 2.1, 2.2), and
against the official SDK's own signer."""

import calendar
import time

import pytest
from tablestore.auth import RequestContext, SignV2, SignV4
from tablestore.credentials import Credentials

from tablesafe import signing
from tablesafe.signing import ResponseVerificationError, verify_response

SECRET = "myAccessKeySecret"

# Section 1.4: Python 6.4.8 list_table() against http://127.0.0.1:8800, instance dev.
LIST_TABLE_HEADERS = {
    "x-ots-date": "2026-11-23T23:30:50.000Z",
    "x-ots-apiversion": "2015-12-31",
    "x-ots-accesskeyid": "myAccessKeyId",
    "x-ots-instancename": "dev",
    "x-ots-contentmd5": "1B2M2Y8AsgTpgAmY7PhCfg==",
}

# Section 1.6: ListTableResponse ["alpha", "beta"].
RESPONSE_BODY = bytes.fromhex("0a05616c7068610a0462657461")
RESPONSE_HEADERS = {
    "x-ots-contentmd5": "ktO/iisaN8pCDUoXLlxoSg==",
    "x-ots-contenttype": "protocol buffer",
    "x-ots-date": "2026-01-01T00:00:00.000000Z",
    "x-ots-requestid": "0005aedd-5b9e-9b48-a5c1-720b12a7b4bb",
}
RESPONSE_SIGNATURE = "YGVYfp8iTj1uuqEmlJZKyaIOftE="
RESPONSE_NOW = float(calendar.timegm((2026, 1, 1, 0, 0, 30, 0, 0, 0)))


def test_content_md5_of_the_empty_body_and_the_vector():
    assert signing.content_md5(b"") == "1B2M2Y8AsgTpgAmY7PhCfg=="
    assert signing.content_md5(RESPONSE_BODY) == "ktO/iisaN8pCDUoXLlxoSg=="


def test_v2_string_to_sign_and_signature_match_the_capture():
    expected = ("/ListTable\nPOST\n\nx-ots-accesskeyid:myAccessKeyId\nx-ots-apiversion:2015-12-31\n"
                "x-ots-contentmd5:1B2M2Y8AsgTpgAmY7PhCfg==\nx-ots-date:2026-11-23T23:30:50.000Z\n"
                "x-ots-instancename:dev\n")
    assert signing.string_to_sign("ListTable", LIST_TABLE_HEADERS) == expected
    assert signing.sign_v2(SECRET, "ListTable", LIST_TABLE_HEADERS) == "ylOg3YAvj2Dx1s4cI2gQoK8lzB4="


def test_v2_ignores_header_case_order_whitespace_and_the_signature_itself():
    shuffled = {k.upper(): " %s " % v for k, v in reversed(list(LIST_TABLE_HEADERS.items()))}
    shuffled["X-Ots-Signature"] = "anything"
    shuffled["User-Agent"] = "not signed"
    assert signing.sign_v2(SECRET, "/ListTable", shuffled) == "ylOg3YAvj2Dx1s4cI2gQoK8lzB4="
    other = dict(LIST_TABLE_HEADERS, **{"x-ots-instancename": "prod"})
    assert signing.sign_v2(SECRET, "ListTable", other) != "ylOg3YAvj2Dx1s4cI2gQoK8lzB4="
    assert signing.sign_v2("otherSecret", "ListTable", LIST_TABLE_HEADERS) != \
        "ylOg3YAvj2Dx1s4cI2gQoK8lzB4="


def test_request_headers_are_signed_as_the_capture():
    headers = signing.request_headers("ListTable", b"", "myAccessKeyId", SECRET, "dev",
                                      date="2026-11-23T23:30:50.000Z")
    assert headers == dict(LIST_TABLE_HEADERS, **{"x-ots-signature": "ylOg3YAvj2Dx1s4cI2gQoK8lzB4="})


def test_v4_signing_key_matches_the_vector():
    assert signing.v4_signing_key(SECRET, "20260101", "cn-hangzhou") == \
        "+E/EHYvr0KHT2oLrs4Q5sY/E69mhcX21Z13r6tObZE4="


@pytest.mark.parametrize("body", [b"", b'{"plan":"nightly"}', "{\"t\":\"caf\u00e9\"}".encode()])
def test_v2_and_v4_agree_with_the_official_sdk_signer(body):
    creds = Credentials("someKeyId", "someSecret", "a-token")
    for region in (None, "cn-hangzhou"):
        ours = signing.request_headers("StartBackup", body, "someKeyId", "someSecret", "inst",
                                       date="2026-03-04T05:06:07.089Z", sts_token="a-token",
                                       region=region, sign_date="20260304")
        theirs = {k: v for k, v in ours.items()
                  if k not in ("x-ots-signature", "x-ots-signaturev4")}
        if region is None:
            SignV2("utf-8").make_request_signature_and_add_headers("/StartBackup", theirs,
                                                                   RequestContext(creds))
        else:
            signer = SignV4("utf-8", region=region, sign_date="20260304")
            theirs.pop("x-ots-signdate"), theirs.pop("x-ots-signregion")
            signer.make_request_signature_and_add_headers("/StartBackup", theirs,
                                                          RequestContext(creds))
        assert ours == theirs, region


def test_response_signature_matches_the_vector():
    assert signing.response_signature(SECRET, "ListTable", RESPONSE_HEADERS) == RESPONSE_SIGNATURE
    # The action as a path, and upper-case names, change nothing.
    upper = {k.upper(): v for k, v in RESPONSE_HEADERS.items()}
    assert signing.response_signature(SECRET, "/ListTable", upper) == RESPONSE_SIGNATURE


def signed(headers=None, key_id="myAccessKeyId", signature=RESPONSE_SIGNATURE):
    out = dict(RESPONSE_HEADERS if headers is None else headers)
    out["authorization"] = "OTS %s:%s" % (key_id, signature)
    return out


def check(status=200, headers=None, body=RESPONSE_BODY, **kw):
    kw.setdefault("now", RESPONSE_NOW)
    verify_response("ListTable", status, signed() if headers is None else headers, body,
                    "myAccessKeyId", SECRET, **kw)


def test_a_good_response_verifies():
    check()


@pytest.mark.parametrize("missing", ["x-ots-contentmd5", "x-ots-requestid", "x-ots-date",
                                     "x-ots-contenttype", "authorization"])
def test_a_2xx_missing_a_required_header_is_refused(missing):
    headers = signed()
    del headers[missing]
    with pytest.raises(ResponseVerificationError, match="missing in response header"):
        check(headers=headers)


def test_a_changed_body_fails_its_md5():
    with pytest.raises(ResponseVerificationError, match="MD5 mismatch"):
        check(body=RESPONSE_BODY + b"x")


def test_a_date_without_fraction_or_skewed_is_refused():
    with pytest.raises(ResponseVerificationError, match="Invalid date format"):
        check(headers=signed(dict(RESPONSE_HEADERS, **{"x-ots-date": "2026-01-01T00:00:00Z"})))
    with pytest.raises(ResponseVerificationError, match="more than 15 minutes"):
        check(now=RESPONSE_NOW + 16 * 60)
    check(now=RESPONSE_NOW + 14 * 60)


def test_wrong_key_id_signature_or_an_unsigned_header_are_refused():
    with pytest.raises(ResponseVerificationError, match="access key id"):
        check(headers=signed(key_id="someoneElse"))
    with pytest.raises(ResponseVerificationError, match="Invalid signature"):
        check(headers=signed(signature="AAAAAAAAAAAAAAAAAAAAAAAAAAA="))
    extra = signed()
    extra["x-ots-added-later"] = "1"
    with pytest.raises(ResponseVerificationError, match="Invalid signature"):
        check(headers=extra)
    with pytest.raises(ResponseVerificationError, match="Invalid Authorization"):
        check(headers=dict(RESPONSE_HEADERS, authorization="Bearer x"))
    # V2 and V4 keys differ: the V4 key does not verify a V2 signature.
    with pytest.raises(ResponseVerificationError, match="Invalid signature"):
        verify_response("ListTable", 200, signed(), RESPONSE_BODY, "myAccessKeyId",
                        signing.v4_signing_key(SECRET, "20260101", "r"), now=RESPONSE_NOW)


def test_errors_may_come_unsigned_but_not_wrongly_signed():
    unsigned = dict(RESPONSE_HEADERS)
    check(status=404, headers=unsigned)  # no authorization on an error: fine
    with pytest.raises(ResponseVerificationError, match="Invalid signature"):
        check(status=404, headers=signed(signature="AAAAAAAAAAAAAAAAAAAAAAAAAAA="))
    # A 403 OTSAuthFailed (the server may not know our key) is never signature-checked...
    check(status=403, headers=signed(signature="AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
          error_code="OTSAuthFailed")
    # ... but its MD5 still is, and other 403s are checked in full.
    with pytest.raises(ResponseVerificationError, match="MD5"):
        check(status=403, body=b"x", error_code="OTSAuthFailed")
    with pytest.raises(ResponseVerificationError, match="Invalid signature"):
        check(status=403, headers=signed(signature="AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
              error_code="OTSConditionCheckFail")


def test_ots_date_has_milliseconds_and_is_utc():
    text = signing.ots_date()
    assert len(text) == len("2026-01-01T00:00:00.000Z") and text.endswith("Z")
    parsed = calendar.timegm(time.strptime(text[:-5], "%Y-%m-%dT%H:%M:%S"))
    assert abs(parsed - time.time()) < 5
