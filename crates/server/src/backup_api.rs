//! The backup API at the wire (docs/API.md, "Backup API"): the 13 actions of
//! [`tablesafe_proto::backup_api::ACTIONS`], served on the signed Tablestore
//! protocol with JSON bodies. `http.rs` authenticates and authorizes the request
//! exactly as for a Tablestore action, then calls [`serve`]; this module decodes
//! the JSON request, calls the [`BackupService`] method of the action, encodes its
//! answer as JSON, and maps [`BackupError`]s to Tablestore codes.
//!
//! Invariants: an empty body is `{}`; a request is a JSON object whose every field
//! the action knows (an unknown field is refused, not ignored, so a misspelt
//! option never silently does something else); every failure is an [`ApiError`],
//! so it leaves the server as the usual signed protobuf `Error`; without a backup
//! service every backup action is refused before its body is decoded; messages of
//! internal failures (engine, remote endpoint, background task) stay in the log.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tablesafe_backup::service::BackupService;
use tablesafe_backup::BackupError;
use tablesafe_proto::backup_api::{
    self, JobIdRequest, JobResponse, ListJobsRequest, ListRecoveryPointsRequest, ListSnapshotsRequest, PlanNameRequest,
    PlanRequest, StartBackupRequest, StartRestoreRequest, UpdateJobNoteRequest, UpdateSnapshotInfoRequest,
    VerifyBackupRequest, VerifyRestoreRequest,
};
use tablesafe_proto::ErrorCode;

use crate::error::{ApiError, ApiResult};
use crate::roles::Role;

/// The answer to every backup action when the server runs without the service.
pub const NOT_ENABLED: &str =
    "backups are not enabled on this server; start it with tablesafe serve (which runs the backup service)";

/// The `x-ots-contenttype` of a successful backup action's (JSON) response.
pub const CONTENT_TYPE: &str = "application/json";

/// Whether `action` is one of the backup API's actions.
pub fn is_backup_action(action: &str) -> bool {
    backup_api::ACTIONS.contains(&action)
}

/// Runs the backup action `action` on `body` for a key of `role` and returns the
/// JSON response body.
pub(crate) async fn serve(
    service: Option<Arc<BackupService>>,
    action: &str,
    body: &[u8],
    role: Role,
) -> ApiResult<Vec<u8>> {
    let service = service.ok_or_else(|| ApiError::invalid(NOT_ENABLED))?;
    let request = parse(action, body)?.ok_or_else(|| ApiError::invalid(format!("Unsupported operation: {action}.")))?;
    if role != Role::Admin {
        check_fields(&service, &request, role).await?;
    }
    run(&service, request).await
}

/// The fields a key below admin may not set, whatever its action allows: the
/// action says what it may run, these say on what. Only admin keys choose
/// retention, destinations and tables (a backup-operator runs the plans as an
/// admin wrote them), read or restore from a repository no plan names, or
/// restore over an existing table.
async fn check_fields(service: &BackupService, request: &Request, role: Role) -> ApiResult<()> {
    let from = match request {
        Request::StartBackup(backup) => {
            if backup.policy.is_some() || !backup.tables.is_empty() {
                return Err(ApiError::auth(format!(
                    "The role '{role}' runs backup plans as they are; a policy or tables of the request's own \
                     (retention, destination, what to back up) need an admin key."
                )));
            }
            return Ok(());
        }
        Request::StartRestore(restore) => {
            // Restoring over an existing table destroys its rows: a data write,
            // which only admin keys may do through this API.
            if restore.overwrite {
                return Err(ApiError::auth(format!(
                    "The role '{role}' may restore only into a new table; overwrite needs an admin key."
                )));
            }
            &restore.from
        }
        Request::ListSnapshots(list) => &list.from,
        Request::ListRecoveryPoints(list) => &list.from,
        Request::VerifyBackup(verify) => &verify.from,
        _ => return Ok(()),
    };
    let Some(destination) = from.destination.as_deref() else { return Ok(()) };
    let named = service.list_plans().await.plans.iter().any(|p| p.plan.destination == destination);
    if named {
        return Ok(());
    }
    Err(ApiError::auth(format!(
        "The role '{role}' reaches only the repositories of backup plans; name the plan ('plan'), or use an \
         admin key for the destination '{destination}'."
    )))
}

/// A decoded backup request, one variant per action.
#[derive(Debug)]
enum Request {
    CreatePlan(PlanRequest),
    UpdatePlan(PlanRequest),
    DeletePlan(PlanNameRequest),
    ListPlans,
    DescribePlan(PlanNameRequest),
    StartBackup(StartBackupRequest),
    ListSnapshots(ListSnapshotsRequest),
    ListRecoveryPoints(ListRecoveryPointsRequest),
    VerifyBackup(VerifyBackupRequest),
    StartRestore(StartRestoreRequest),
    VerifyRestore(VerifyRestoreRequest),
    ListJobs(ListJobsRequest),
    DescribeJob(JobIdRequest),
    UpdateSnapshotInfo(UpdateSnapshotInfoRequest),
    UpdateJobNote(UpdateJobNoteRequest),
}

/// The request of `action` decoded from `body`; `None` for an action that is not
/// a backup action.
fn parse(action: &str, body: &[u8]) -> ApiResult<Option<Request>> {
    Ok(Some(match action {
        "CreateBackupPlan" => Request::CreatePlan(decode(action, body)?),
        "UpdateBackupPlan" => Request::UpdatePlan(decode(action, body)?),
        "DeleteBackupPlan" => Request::DeletePlan(decode(action, body)?),
        "ListBackupPlans" => {
            let backup_api::Empty {} = decode(action, body)?;
            Request::ListPlans
        }
        "DescribeBackupPlan" => Request::DescribePlan(decode(action, body)?),
        "StartBackup" => Request::StartBackup(decode(action, body)?),
        "ListSnapshots" => Request::ListSnapshots(decode(action, body)?),
        "ListRecoveryPoints" => Request::ListRecoveryPoints(decode(action, body)?),
        "VerifyBackup" => Request::VerifyBackup(decode(action, body)?),
        "StartRestore" => Request::StartRestore(decode(action, body)?),
        "VerifyRestore" => Request::VerifyRestore(decode(action, body)?),
        "ListJobs" => Request::ListJobs(decode(action, body)?),
        "DescribeJob" => Request::DescribeJob(decode(action, body)?),
        "UpdateSnapshotInfo" => Request::UpdateSnapshotInfo(decode(action, body)?),
        "UpdateJobNote" => Request::UpdateJobNote(decode(action, body)?),
        _ => return Ok(None),
    }))
}

/// Calls the service method of `request` and encodes its answer.
async fn run(service: &BackupService, request: Request) -> ApiResult<Vec<u8>> {
    let job = |job| JobResponse { job };
    match request {
        Request::CreatePlan(r) => encode(&service.create_plan(r.plan).await.map_err(to_api)?),
        Request::UpdatePlan(r) => encode(&service.update_plan(r.plan).await.map_err(to_api)?),
        Request::DeletePlan(r) => {
            service.delete_plan(&r.name).await.map_err(to_api)?;
            encode(&backup_api::Empty {})
        }
        Request::ListPlans => encode(&service.list_plans().await),
        Request::DescribePlan(r) => encode(&service.describe_plan(&r.name).await.map_err(to_api)?),
        Request::StartBackup(r) => encode(&job(service.start_backup(r).await.map_err(to_api)?)),
        Request::ListSnapshots(r) => encode(&service.list_snapshots(r).await.map_err(to_api)?),
        Request::ListRecoveryPoints(r) => encode(&service.list_recovery_points(r).await.map_err(to_api)?),
        Request::VerifyBackup(r) => encode(&job(service.verify_backup(r).await.map_err(to_api)?)),
        Request::StartRestore(r) => encode(&job(service.start_restore(r).await.map_err(to_api)?)),
        Request::VerifyRestore(r) => encode(&job(service.verify_restore(r).await.map_err(to_api)?)),
        Request::ListJobs(r) => encode(&service.list_jobs(r).await.map_err(to_api)?),
        Request::DescribeJob(r) => encode(&job(service.describe_job(r).await.map_err(to_api)?)),
        Request::UpdateSnapshotInfo(r) => encode(&service.update_snapshot_info(r).await.map_err(to_api)?),
        Request::UpdateJobNote(r) => encode(&job(service.update_job_note(r).await.map_err(to_api)?)),
    }
}

/// Decodes the JSON request of `action`: an empty body is `{}`, anything but an
/// object, malformed JSON, a wrong type or an unknown field is OTSParameterInvalid.
fn decode<T: DeserializeOwned + Serialize>(action: &str, body: &[u8]) -> ApiResult<T> {
    let body = if body.is_empty() { b"{}".as_slice() } else { body };
    let invalid = |detail: &dyn std::fmt::Display| ApiError::invalid(format!("Failed to parse {action}: {detail}."));
    let request: T = serde_json::from_slice(body).map_err(|e| invalid(&e))?;
    // The request types accept what they do not know (some flatten their
    // repository fields, which serde cannot combine with deny_unknown_fields), so
    // unknown top-level fields are found here: every field of a request is
    // serialized, so a field the encoded request lacks is one the type has not.
    // Nested plans deny unknown fields themselves.
    let sent: serde_json::Value = serde_json::from_slice(body).map_err(|e| invalid(&e))?;
    let serde_json::Value::Object(sent) = sent else {
        return Err(invalid(&"expected a JSON object"));
    };
    let known = serde_json::to_value(&request).map_err(|_| ApiError::internal("re-encoding a backup request"))?;
    let mut known: Vec<&String> = known.as_object().map(|o| o.keys().collect()).unwrap_or_default();
    known.sort_unstable();
    if let Some(unknown) = sent.keys().find(|key| !known.contains(key)) {
        let expected = known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
        let expected = if expected.is_empty() { "no fields".to_owned() } else { format!("one of {expected}") };
        return Err(invalid(&format_args!("unknown field `{unknown}`, expected {expected}")));
    }
    Ok(request)
}

/// Encodes a response as JSON.
fn encode<T: Serialize>(response: &T) -> ApiResult<Vec<u8>> {
    serde_json::to_vec(response).map_err(|_| ApiError::internal("encoding a backup response"))
}

/// The Tablestore code and message of a failed backup action.
fn to_api(error: BackupError) -> ApiError {
    let wire = |code, message: String| ApiError::Wire { code, message };
    match error {
        BackupError::NotFound(message) => wire(ErrorCode::ObjectNotExist, message),
        BackupError::Invalid(message) => wire(ErrorCode::ParameterInvalid, message),
        e @ (BackupError::Conflict(_) | BackupError::TargetExists(_)) => {
            wire(ErrorCode::ObjectAlreadyExist, e.to_string())
        }
        // Repository messages name paths, buckets and objects, never credentials,
        // and say what to fix (an unreachable bucket, a wrong passphrase).
        e @ BackupError::Repo(_) => wire(ErrorCode::InternalServerError, e.to_string()),
        // Stored data that fails its check: the snapshot, table and fault are what
        // an operator needs, and they hold nothing secret.
        e @ BackupError::Corrupt { .. } => wire(ErrorCode::InternalServerError, e.to_string()),
        e => {
            tracing::error!(error = %e, "backup action failed");
            ApiError::internal("backup action")
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap.
mod tests {
    use super::*;

    fn parse_error<T: DeserializeOwned + Serialize + std::fmt::Debug>(action: &str, body: &str) -> (ErrorCode, String) {
        decode::<T>(action, body.as_bytes()).unwrap_err().to_wire()
    }

    #[test]
    fn requests_decode_with_defaults_and_refuse_what_they_do_not_know() {
        let request: ListSnapshotsRequest = decode("ListSnapshots", b"").unwrap();
        assert_eq!(request, ListSnapshotsRequest::default());
        let request: ListSnapshotsRequest = decode("ListSnapshots", br#"{"plan":"nightly","only_plan":null}"#).unwrap();
        assert_eq!(request.from.plan.as_deref(), Some("nightly"));
        let request: PlanRequest = decode("CreateBackupPlan", br#"{"plan":{"name":"p","destination":"d"}}"#).unwrap();
        assert_eq!(request.plan.name, "p");

        let (code, message) = parse_error::<ListSnapshotsRequest>("ListSnapshots", r#"{"plan":"p","onlyPlan":"x"}"#);
        assert_eq!(code, ErrorCode::ParameterInvalid);
        assert!(message.starts_with("Failed to parse ListSnapshots: unknown field `onlyPlan`"), "{message}");
        assert!(message.ends_with("expected one of `destination`, `only_plan`, `plan`, `table`, `tags`."), "{message}");
        let (_, message) = parse_error::<PlanRequest>("CreateBackupPlan", r#"{"plan":{"name":"p","every_day":1}}"#);
        assert!(message.starts_with("Failed to parse CreateBackupPlan: unknown field `every_day`"), "{message}");
        let (_, message) = parse_error::<backup_api::Empty>("ListBackupPlans", r#"{"x":1}"#);
        assert_eq!(message, "Failed to parse ListBackupPlans: unknown field `x`, expected no fields.");
        let (_, message) = parse_error::<JobIdRequest>("DescribeJob", r#"{"job_id":7}"#);
        assert!(message.starts_with("Failed to parse DescribeJob: invalid type: integer `7`"), "{message}");
        let (_, message) = parse_error::<JobIdRequest>("DescribeJob", r#"{"job_id":"#);
        assert!(message.starts_with("Failed to parse DescribeJob: EOF while parsing"), "{message}");
        let (_, message) = parse_error::<JobIdRequest>("DescribeJob", r#"["j1"]"#);
        assert_eq!(message, "Failed to parse DescribeJob: expected a JSON object.");
        let (_, message) = parse_error::<ListJobsRequest>("ListJobs", r#"{"kind":"snapshot"}"#);
        assert!(message.contains("unknown variant `snapshot`"), "{message}");
    }

    #[test]
    fn backup_errors_map_to_service_codes() {
        let cases = [
            (BackupError::NotFound("no plan 'x'".into()), ErrorCode::ObjectNotExist, "no plan 'x'"),
            (BackupError::Invalid("bad cron".into()), ErrorCode::ParameterInvalid, "bad cron"),
            (BackupError::Conflict("plan 'x' is running".into()), ErrorCode::ObjectAlreadyExist, "plan 'x' is running"),
            (BackupError::Internal("secret detail".into()), ErrorCode::InternalServerError, "Internal server error."),
        ];
        for (error, code, message) in cases {
            assert_eq!(to_api(error).to_wire(), (code, message.to_owned()));
        }
        let (code, message) = to_api(BackupError::TargetExists("t".into())).to_wire();
        assert_eq!((code, code.http_status()), (ErrorCode::ObjectAlreadyExist, 409));
        assert!(message.starts_with("table 't' already exists"), "{message}");
    }

    #[test]
    fn every_backup_action_is_served() {
        for action in backup_api::ACTIONS {
            assert!(is_backup_action(action));
            // Every request has defaults for all its fields, so `{}` is one of each.
            assert!(parse(action, b"{}").unwrap().is_some(), "{action} has no request type");
            assert!(parse(action, b"").unwrap().is_some(), "{action}: an empty body is {{}}");
        }
        assert!(!is_backup_action("ListTable"));
        assert!(parse("ListTable", b"{}").unwrap().is_none());
        // Without a service the answer is "not enabled", before the body is decoded.
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let (code, message) =
            runtime.block_on(serve(None, "StartBackup", b"not json", Role::Admin)).unwrap_err().to_wire();
        assert_eq!((code, message.as_str()), (ErrorCode::ParameterInvalid, NOT_ENABLED));
    }
}
