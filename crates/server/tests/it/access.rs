//! Roles at the wire: a refused action is a signed 403 `OTSAuthFailed` naming the
//! role and the action, decided before the body is decoded.

use axum::http::StatusCode;
use tablesafe_proto::sign;
use tablesafe_server::Role;

use crate::harness::Harness;

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

fn harness() -> Harness {
    Harness::with_keys(&[("admin", "s-admin", Role::Admin), ("reader", "s-reader", Role::ReadOnly)])
}

#[tokio::test]
async fn a_refused_action_is_a_signed_auth_failure_decided_before_the_body() {
    let h = harness();
    // Not a PutRowRequest at all: an allowed key gets 400, a refused one 403.
    let garbage = vec![0xff, 0x01, 0x02];
    let reply = h.call_as("admin", "s-admin", "PutRow", garbage.clone()).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let reply = h.call_as("reader", "s-reader", "PutRow", garbage).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let (code, message) = reply.error();
    assert_eq!(code, "OTSAuthFailed");
    assert_eq!(message, "The access key 'reader' has the role 'read-only', which does not allow PutRow (write data).");
    // Signed with the reader's secret, like every answer to an authenticated request.
    let ots: Vec<(String, String)> = reply.headers.iter().filter(|(n, _)| n.starts_with("x-ots-")).cloned().collect();
    let expected = sign::response_signature(&sign::SigningKey::V2("s-reader".into()), &ots, "PutRow");
    assert_eq!(header(&reply.headers, "authorization"), Some(format!("OTS reader:{expected}").as_str()));
    assert_eq!(header(&reply.headers, "x-ots-contentmd5"), Some(sign::content_md5(&reply.body).as_str()));
}

#[tokio::test]
async fn reads_are_allowed_and_unknown_actions_stay_unsupported() {
    let h = harness();
    assert_eq!(h.call_as("reader", "s-reader", "ListTable", Vec::new()).await.status, StatusCode::OK);
    for (key, secret) in [("admin", "s-admin"), ("reader", "s-reader")] {
        let reply = h.call_as(key, secret, "CreateSearchIndex", Vec::new()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{key}");
        assert_eq!(reply.error(), ("OTSParameterInvalid".into(), "Unsupported operation: CreateSearchIndex.".into()));
    }
    // A wrong secret is still refused by the signature check, whatever the role.
    let reply = h.call_as("reader", "s-admin", "ListTable", Vec::new()).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.error().1, "Signature mismatch.");
}
