//! The backup API at the wire: its 13 actions are signed, authorized and refused
//! like every Tablestore action; without a backup service each is a signed 400
//! saying backups are not enabled; with one, a body that is not the action's JSON
//! request is a 400 before the service is called, and the service's errors keep
//! their Tablestore codes and messages.

use std::sync::Arc;

use axum::http::StatusCode;
use tablesafe_backup::service::{BackupService, DestinationRules, ServiceConfig};
use tablesafe_proto::backup_api::{ListBackupPlansResponse, PlanStatus, ACTIONS};
use tablesafe_proto::sign;
use tablesafe_server::http::router_with;
use tablesafe_server::{KeyRoles, Role, ServeOptions};

use crate::harness::{send_to, Harness, Reply, KEY_ID, SECRET};

const NOT_ENABLED: &str =
    "backups are not enabled on this server; start it with tablesafe serve (which runs the backup service)";

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// Asserts that `reply` to `action` is signed with `key_id`'s `secret`.
fn assert_signed(reply: &Reply, key_id: &str, secret: &str, action: &str) {
    let ots: Vec<(String, String)> = reply.headers.iter().filter(|(n, _)| n.starts_with("x-ots-")).cloned().collect();
    let expected = sign::response_signature(&sign::SigningKey::V2(secret.into()), &ots, action);
    assert_eq!(header(&reply.headers, "authorization"), Some(format!("OTS {key_id}:{expected}").as_str()), "{action}");
    assert_eq!(header(&reply.headers, "x-ots-contentmd5"), Some(sign::content_md5(&reply.body).as_str()), "{action}");
}

/// The documented matrix (docs/API.md, "What each role may do"), written out
/// independently of `roles.rs`.
fn allowed(role: Role, action: &str) -> bool {
    const LIST: [&str; 6] =
        ["ListBackupPlans", "DescribeBackupPlan", "ListSnapshots", "ListRecoveryPoints", "ListJobs", "DescribeJob"];
    const RUN_AND_RESTORE: [&str; 5] = ["StartBackup", "VerifyBackup", "StartRestore", "VerifyRestore", "UpdateJobNote"];
    const PLANS: [&str; 4] = ["CreateBackupPlan", "UpdateBackupPlan", "DeleteBackupPlan", "UpdateSnapshotInfo"];
    assert!(LIST.contains(&action) || RUN_AND_RESTORE.contains(&action) || PLANS.contains(&action), "{action}");
    match role {
        Role::Admin => true,
        Role::ReadWrite | Role::ReadOnly => LIST.contains(&action),
        Role::BackupOperator => LIST.contains(&action) || RUN_AND_RESTORE.contains(&action),
    }
}

#[tokio::test]
async fn without_the_service_every_backup_action_is_a_signed_not_enabled() {
    let h = Harness::new();
    for action in ACTIONS {
        // Refused before the body is decoded: empty, `{}` and garbage alike.
        for body in [&b""[..], b"{}", b"{not json"] {
            let reply = h.call(action, body.to_vec()).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{action}");
            assert_eq!(reply.error(), ("OTSParameterInvalid".to_owned(), NOT_ENABLED.to_owned()), "{action}");
            assert_signed(&reply, KEY_ID, SECRET, action);
            // Errors keep the protobuf body of every action.
            assert_eq!(header(&reply.headers, "x-ots-contenttype"), Some("protocol buffer"), "{action}");
        }
    }
    let text = h.metrics.render();
    let counted = r#"tablesafe_requests_total{action="StartBackup",code="OTSParameterInvalid"} 3"#;
    assert!(text.lines().any(|l| l == counted), "{text}");
}

#[tokio::test]
async fn every_role_against_every_backup_action() {
    let keys: Vec<(String, String, Role)> =
        Role::ALL.into_iter().map(|role| (format!("key-{role}"), format!("secret-{role}"), role)).collect();
    let borrowed: Vec<(&str, &str, Role)> = keys.iter().map(|(i, s, r)| (i.as_str(), s.as_str(), *r)).collect();
    let h = Harness::with_keys(&borrowed);
    let mut report = Vec::new();
    for (id, secret, role) in &keys {
        for action in ACTIONS {
            let reply = h.call_as(id, secret, action, b"{}".to_vec()).await;
            assert_signed(&reply, id, secret, action);
            let (code, message) = reply.error();
            let refused = reply.status == StatusCode::FORBIDDEN && code == "OTSAuthFailed";
            report.push(format!("{role:>15} {action:<20} {}", if refused { "403" } else { "allowed" }));
            assert_eq!(!refused, allowed(*role, action), "{role} {action}: {} {code} {message}", reply.status);
            if refused {
                let expected = format!("The access key '{id}' has the role '{role}', which does not allow {action} (");
                assert!(message.starts_with(&expected), "{message}");
            } else {
                // Past authorization, this server has no service to run it.
                assert_eq!((reply.status, message.as_str()), (StatusCode::BAD_REQUEST, NOT_ENABLED), "{role} {action}");
            }
        }
    }
    println!("{}", report.join("\n"));
}

/// A router with a backup service over the harness's engine, and a signed sender.
struct WithService {
    router: axum::Router,
    /// The service's data directory (its backup root).
    dir: tempfile::TempDir,
}

impl WithService {
    async fn new(h: &Harness) -> WithService {
        WithService::with_roles(h, KeyRoles::new([(KEY_ID.to_owned(), Role::Admin)])).await
    }

    async fn with_roles(h: &Harness, roles: KeyRoles) -> WithService {
        WithService::with_config(h, roles, Vec::new()).await
    }

    /// With the URLs and paths the configuration allows requests to name.
    async fn with_config(h: &Harness, roles: KeyRoles, allowed: Vec<String>) -> WithService {
        let dir = tempfile::tempdir().unwrap();
        let service = BackupService::start(ServiceConfig {
            engine: Arc::clone(&h.state.engine),
            data_dir: dir.path().to_owned(),
            plan_file: dir.path().join("plans.toml"),
            // Plans are checked to open (or create) their repository when saved.
            unlock: tablesafe_repo::Unlock { password: Some("service test password".into()), identities: Vec::new() },
            default_plan: false,
            destinations: DestinationRules { root: None, allowed },
            priority: Default::default(),
        })
        .await
        .unwrap();
        let options =
            ServeOptions { roles, backup: Some(service), ..ServeOptions::default() };
        WithService { router: router_with(Arc::clone(&h.state), options), dir }
    }

    async fn call(&self, action: &str, body: &[u8]) -> Reply {
        self.call_as(KEY_ID, SECRET, action, body).await
    }

    async fn call_as(&self, key_id: &str, secret: &str, action: &str, body: &[u8]) -> Reply {
        let headers = Harness::signed_headers_as(key_id, secret, action, body);
        send_to(&self.router, "POST", action, &headers, body.to_vec()).await
    }
}

#[tokio::test]
async fn a_body_that_is_not_the_request_is_a_parameter_error() {
    let h = Harness::new();
    let s = WithService::new(&h).await;
    let cases: [(&str, &[u8], &str); 5] = [
        ("StartBackup", b"{\"plan\": ", "Failed to parse StartBackup: EOF while parsing"),
        ("CreateBackupPlan", b"not json", "Failed to parse CreateBackupPlan: expected ident"),
        ("ListSnapshots", br#"{"plan":"p","snapshot":"x"}"#, "Failed to parse ListSnapshots: unknown field `snapshot`"),
        ("DescribeJob", br#"{"job_id":1}"#, "Failed to parse DescribeJob: invalid type: integer `1`"),
        (
            "CreateBackupPlan",
            br#"{"plan":{"name":"p","schedule":"1h"}}"#,
            "Failed to parse CreateBackupPlan: unknown field `schedule`",
        ),
    ];
    for (action, body, start) in cases {
        let reply = s.call(action, body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{action}");
        let (code, message) = reply.error();
        assert_eq!(code, "OTSParameterInvalid", "{action}");
        assert!(message.starts_with(start), "{action}: {message}");
        assert_signed(&reply, KEY_ID, SECRET, action);
    }
}

#[tokio::test]
async fn an_answer_is_a_signed_json_body() {
    let h = Harness::new();
    let s = WithService::new(&h).await;
    // An empty body is `{}`.
    for body in [&b""[..], b"{}"] {
        let reply = s.call("ListBackupPlans", body).await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", String::from_utf8_lossy(&reply.body));
        let plans: ListBackupPlansResponse = serde_json::from_slice(&reply.body).unwrap();
        assert!(plans.plans.is_empty(), "{plans:?}");
        assert_eq!(header(&reply.headers, "x-ots-contenttype"), Some("application/json"));
        assert_signed(&reply, KEY_ID, SECRET, "ListBackupPlans");
    }
}

#[tokio::test]
async fn service_errors_keep_their_tablestore_codes() {
    let h = Harness::new();
    let s = WithService::new(&h).await;
    let plan = br#"{"plan":{"name":"nightly","every":"1d","destination":"nightly-repo","enabled":false}}"#;
    let reply = s.call("CreateBackupPlan", plan).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.error());
    let status: PlanStatus = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!((status.plan.name.as_str(), status.plan.enabled), ("nightly", false));

    let cases: [(&str, &[u8], StatusCode, &str); 4] = [
        ("CreateBackupPlan", plan, StatusCode::CONFLICT, "OTSObjectAlreadyExist"),
        ("DescribeBackupPlan", br#"{"name":"weekly"}"#, StatusCode::NOT_FOUND, "OTSObjectNotExist"),
        ("DescribeJob", br#"{"job_id":"no-such-job"}"#, StatusCode::NOT_FOUND, "OTSObjectNotExist"),
        (
            "CreateBackupPlan",
            br#"{"plan":{"name":"bad name!","destination":"d"}}"#,
            StatusCode::BAD_REQUEST,
            "OTSParameterInvalid",
        ),
    ];
    for (action, body, status, code) in cases {
        let reply = s.call(action, body).await;
        let (got, message) = reply.error();
        assert_eq!((reply.status, got.as_str()), (status, code), "{action}: {message}");
        assert!(!message.is_empty() && message != "Internal server error.", "{action}: {message}");
        assert_signed(&reply, KEY_ID, SECRET, action);
    }

    let reply = s.call("DeleteBackupPlan", br#"{"name":"nightly"}"#).await;
    assert_eq!((reply.status, reply.body.as_slice()), (StatusCode::OK, &b"{}"[..]));
    let reply = s.call("DescribeBackupPlan", br#"{"name":"nightly"}"#).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}

/// Restoring over an existing table destroys its rows: a backup-operator may
/// restore into a new table, but overwrite needs an admin key.
#[tokio::test]
async fn only_admin_keys_restore_over_an_existing_table() {
    let h = Harness::with_keys(&[(KEY_ID, SECRET, Role::Admin), ("operator", "operator-secret", Role::BackupOperator)]);
    let roles = KeyRoles::new([(KEY_ID.to_owned(), Role::Admin), ("operator".to_owned(), Role::BackupOperator)]);
    let s = WithService::with_roles(&h, roles).await;
    let plan = br#"{"plan":{"name":"p","every":"1d","destination":"d","enabled":false}}"#;
    assert_eq!(s.call("CreateBackupPlan", plan).await.status, StatusCode::OK);
    let overwrite = br#"{"destination":"d","table":"t","target":"t","overwrite":true}"#;
    let reply = s.call_as("operator", "operator-secret", "StartRestore", overwrite).await;
    let (code, message) = reply.error();
    assert_eq!((reply.status, code.as_str()), (StatusCode::FORBIDDEN, "OTSAuthFailed"), "{message}");
    assert!(message.contains("overwrite needs an admin key"), "{message}");
    assert_signed(&reply, "operator", "operator-secret", "StartRestore");
    // Without overwrite the same key may start the restore (a job that fails later, not a 403).
    let new_table = br#"{"destination":"d","table":"t"}"#;
    let reply = s.call_as("operator", "operator-secret", "StartRestore", new_table).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", String::from_utf8_lossy(&reply.body));
    // An admin key may overwrite (the job starts).
    let reply = s.call("StartRestore", overwrite).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", String::from_utf8_lossy(&reply.body));
}

/// A role is checked against the fields of a request, not only its action: a
/// backup-operator runs plans as an admin wrote them (no policy, retention,
/// destination or tables of its own) and reaches only the repositories plans
/// name; a read-only key lists only those. Each refusal is a signed 403 that
/// says what needs an admin key, and nothing is written.
#[tokio::test]
async fn roles_below_admin_cannot_choose_retention_destinations_or_tables() {
    let keys = [
        (KEY_ID, SECRET, Role::Admin),
        ("operator", "op-secret", Role::BackupOperator),
        ("reader", "r-secret", Role::ReadOnly),
    ];
    let h = Harness::with_keys(&keys);
    let roles = KeyRoles::new(keys.iter().map(|(id, _, role)| (id.to_string(), *role)));
    let s = WithService::with_roles(&h, roles).await;
    let plan = br#"{"plan":{"name":"p","every":"1d","destination":"d","enabled":false,"keep_last":5}}"#;
    assert_eq!(s.call("CreateBackupPlan", plan).await.status, StatusCode::OK);

    let refused: [(&str, &str, &str, &[u8], &str); 7] = [
        (
            "operator",
            "op-secret",
            "StartBackup",
            br#"{"policy":{"name":"p","destination":"d","keep_last":1}}"#,
            "a policy or tables",
        ),
        ("operator", "op-secret", "StartBackup", br#"{"plan":"p","tables":["t"]}"#, "a policy or tables"),
        (
            "operator",
            "op-secret",
            "StartBackup",
            br#"{"policy":{"name":"x","destination":"/tmp/elsewhere"}}"#,
            "admin key",
        ),
        (
            "operator",
            "op-secret",
            "StartRestore",
            br#"{"destination":"../../t","table":"t"}"#,
            "repositories of backup plans",
        ),
        ("operator", "op-secret", "VerifyBackup", br#"{"destination":"/etc"}"#, "repositories of backup plans"),
        ("reader", "r-secret", "ListSnapshots", br#"{"destination":"/var/lib"}"#, "repositories of backup plans"),
        ("reader", "r-secret", "ListRecoveryPoints", br#"{"destination":"other"}"#, "repositories of backup plans"),
    ];
    for (id, secret, action, body, says) in refused {
        let reply = s.call_as(id, secret, action, body).await;
        let (code, message) = reply.error();
        assert_eq!((reply.status, code.as_str()), (StatusCode::FORBIDDEN, "OTSAuthFailed"), "{id} {action}: {message}");
        assert!(message.contains(says), "{id} {action}: {message}");
        assert_signed(&reply, id, secret, action);
    }
    let jobs = s.call("ListJobs", b"{}").await;
    let jobs: serde_json::Value = serde_json::from_slice(&jobs.body).unwrap();
    assert_eq!(jobs["jobs"], serde_json::json!([]), "nothing ran: {jobs}");

    // What the plans name stays open to them, and admin keys keep every field.
    let allowed: [(&str, &str, &str, &[u8]); 4] = [
        ("operator", "op-secret", "StartBackup", br#"{"plan":"p"}"#),
        ("operator", "op-secret", "VerifyBackup", br#"{"destination":"d"}"#),
        ("reader", "r-secret", "ListSnapshots", br#"{"plan":"p"}"#),
        (KEY_ID, SECRET, "ListSnapshots", br#"{"destination":"other"}"#),
    ];
    for (id, secret, action, body) in allowed {
        let reply = s.call_as(id, secret, action, body).await;
        assert_ne!(reply.status, StatusCode::FORBIDDEN, "{id} {action}: {:?}", reply.error());
    }
}

/// Every key, admin included, names destinations under the server's backup root
/// (its data directory here) or ones its configuration allows: an absolute path,
/// `..` or a symlink out of the root is a 400 OTSParameterInvalid, and nothing is
/// created there.
#[tokio::test]
async fn destinations_stay_under_the_backup_root_unless_the_configuration_allows_them() {
    let h = Harness::new();
    let allowed = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let roles = KeyRoles::new([(KEY_ID.to_owned(), Role::Admin)]);
    let s = WithService::with_config(&h, roles, vec![allowed.path().display().to_string()]).await;
    std::os::unix::fs::symlink(outside.path(), s.dir.path().join("escape")).unwrap();
    let out = outside.path().display().to_string();
    let plan = |destination: &str| {
        serde_json::json!({"plan": {"name": "p", "every": "1d", "destination": destination, "enabled": false}})
            .to_string()
    };
    let policy = |destination: &str| serde_json::json!({"policy": {"destination": destination}}).to_string();
    let refused: Vec<(&str, String, &str)> = vec![
        ("CreateBackupPlan", plan(&format!("{out}/repo")), "configuration allows"),
        ("CreateBackupPlan", plan("../../t"), "'..'"),
        ("CreateBackupPlan", plan("escape/repo"), "symbolic link"),
        ("CreateBackupPlan", plan(&format!("{}/../x", allowed.path().display())), "'..'"),
        ("CreateBackupPlan", plan("s3://someone-elses-bucket/x"), "configuration allows"),
        ("StartBackup", policy(&out), "configuration allows"),
        ("StartBackup", policy("../t"), "'..'"),
        ("ListSnapshots", serde_json::json!({"destination": "/etc"}).to_string(), "configuration allows"),
        ("VerifyBackup", serde_json::json!({"destination": "escape"}).to_string(), "symbolic link"),
        ("StartRestore", serde_json::json!({"destination": "/", "table": "t"}).to_string(), "configuration allows"),
    ];
    for (action, body, says) in &refused {
        let reply = s.call(action, body.as_bytes()).await;
        let (code, message) = reply.error();
        assert_eq!((reply.status, code.as_str()), (StatusCode::BAD_REQUEST, "OTSParameterInvalid"), "{action} {body}: {message}");
        assert!(message.contains(says), "{action} {body}: {message}");
        assert_signed(&reply, KEY_ID, SECRET, action);
    }
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0, "nothing written outside the root");
    let jobs: serde_json::Value = serde_json::from_slice(&s.call("ListJobs", b"{}").await.body).unwrap();
    assert_eq!(jobs["jobs"], serde_json::json!([]), "nothing ran: {jobs}");

    // A name under the root and a path below an allowed one are repositories.
    for destination in ["nightly".to_owned(), format!("{}/repo", allowed.path().display())] {
        let reply = s.call("CreateBackupPlan", plan(&destination).as_bytes()).await;
        assert_eq!(reply.status, StatusCode::OK, "{destination}: {:?}", reply.error());
        assert_eq!(s.call("DeleteBackupPlan", br#"{"name":"p"}"#).await.status, StatusCode::OK);
    }
    assert!(s.dir.path().join("nightly").join("config").is_file());
    assert!(allowed.path().join("repo").join("config").is_file());
}

/// A listing, check or restore of a destination that holds no repository says so
/// (404, or a failed job) and leaves none behind: a mistyped name stays a typo.
#[tokio::test]
async fn reading_a_destination_without_a_repository_creates_none() {
    let h = Harness::new();
    let s = WithService::new(&h).await;
    for action in ["ListSnapshots", "ListRecoveryPoints"] {
        let body = if action == "ListSnapshots" { &br#"{"destination":"typo"}"#[..] } else { br#"{"destination":"typo","table":"t"}"# };
        let reply = s.call(action, body).await;
        let (code, message) = reply.error();
        assert_eq!((reply.status, code.as_str()), (StatusCode::NOT_FOUND, "OTSObjectNotExist"), "{action}: {message}");
        assert!(message.contains("no repository at") && message.contains("typo"), "{message}");
    }
    for (action, body) in [("VerifyBackup", &br#"{"destination":"typo"}"#[..]), ("StartRestore", br#"{"destination":"typo","table":"t"}"#)] {
        let reply = s.call(action, body).await;
        assert_eq!(reply.status, StatusCode::OK, "{action}: {:?}", reply.error());
        let job: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        let id = job["job"]["id"].as_str().unwrap().to_owned();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let ended = loop {
            let reply = s.call("DescribeJob", serde_json::json!({"job_id": id}).to_string().as_bytes()).await;
            let job: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
            if job["job"]["state"] != "running" {
                break job["job"].clone();
            }
            assert!(std::time::Instant::now() < deadline, "{action}: the job never ended: {job}");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        };
        assert_eq!(ended["state"], "failed", "{action}: {ended}");
        assert!(ended["error"].as_str().unwrap().contains("no repository at"), "{action}: {ended}");
    }
    assert!(!s.dir.path().join("typo").exists(), "no repository was created");
}
