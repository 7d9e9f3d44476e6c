//! Who may do what: the role of each access key and the permission each action
//! needs, in one place. `http.rs` asks [`authorize`] after the request's signature
//! is verified and before its body is decoded; a refusal is 403 `OTSAuthFailed`
//! naming the role and the action (docs/API.md, "Roles").
//!
//! The model has two tables:
//! - [`ACTIONS`]: every action the server serves, with the [`Permission`] it needs.
//!   An action missing here is answered as unsupported even if a handler exists,
//!   so an unclassified action can never run.
//! - [`Permission::roles`]: the roles that hold each permission, an exhaustive
//!   `match`, so a new permission class (backup runs, restores, plan management)
//!   is one variant plus one line there, and its actions one line each in
//!   [`ACTIONS`].
//!
//! Invariants: a key the [`KeyRoles`] do not name is `admin` (the default role of a
//! key file entry without `role`); the matrix is fixed at compile time; the
//! backup API's actions are in [`ACTIONS`] like every other action.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// The role of an access key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Everything.
    #[default]
    Admin,
    /// Read and write data, create, update and delete tables.
    ReadWrite,
    /// Read data, tables and streams.
    ReadOnly,
    /// Read what a backup needs (rows, tables, streams); no data writes and no
    /// table changes through the Tablestore API.
    BackupOperator,
}

impl Role {
    /// Every role, in the order the documentation lists them.
    pub const ALL: [Role; 4] = [Role::Admin, Role::ReadWrite, Role::ReadOnly, Role::BackupOperator];

    /// The name used in key files and messages, e.g. `read-only`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::ReadWrite => "read-write",
            Role::ReadOnly => "read-only",
            Role::BackupOperator => "backup-operator",
        }
    }

    /// Whether this role holds `permission`.
    pub fn allows(self, permission: Permission) -> bool {
        permission.roles().contains(&self)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A role name that is not one of the four roles.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role '{0}' (expected admin, read-write, read-only or backup-operator)")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(name: &str) -> Result<Role, UnknownRole> {
        Role::ALL.into_iter().find(|r| r.as_str() == name).ok_or_else(|| UnknownRole(name.to_owned()))
    }
}

/// A class of actions that roles are granted as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Permission {
    /// Read rows, table metadata, split points and change streams.
    ReadData,
    /// Write, update and delete rows.
    WriteData,
    /// Create, update (including enabling a stream) and delete tables.
    ManageTables,
    /// List and describe backup plans, snapshots, recovery points and jobs.
    ListBackups,
    /// Start backups and verifications of snapshots.
    RunBackups,
    /// Start restores (which never write over a table with rows unless asked to)
    /// and verifications of restores.
    Restore,
    /// Create, update and delete backup plans (schedules, destinations, retention).
    ManagePlans,
}

impl Permission {
    /// The roles holding this permission: the role matrix, one line per class.
    pub const fn roles(self) -> &'static [Role] {
        use Role::{Admin, BackupOperator, ReadOnly, ReadWrite};
        match self {
            Permission::ReadData => &[Admin, ReadWrite, ReadOnly, BackupOperator],
            Permission::WriteData => &[Admin, ReadWrite],
            Permission::ManageTables => &[Admin, ReadWrite],
            Permission::ListBackups => &[Admin, ReadWrite, ReadOnly, BackupOperator],
            Permission::RunBackups => &[Admin, BackupOperator],
            Permission::Restore => &[Admin, BackupOperator],
            Permission::ManagePlans => &[Admin],
        }
    }

    /// A short name for messages, e.g. `write data`.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::ReadData => "read data",
            Permission::WriteData => "write data",
            Permission::ManageTables => "manage tables",
            Permission::ListBackups => "list backups",
            Permission::RunBackups => "run backups",
            Permission::Restore => "restore",
            Permission::ManagePlans => "manage plans",
        }
    }
}

/// Every action the server serves and the permission it needs.
pub const ACTIONS: &[(&str, Permission)] = &[
    ("GetRow", Permission::ReadData),
    ("GetRange", Permission::ReadData),
    ("BatchGetRow", Permission::ReadData),
    ("ListTable", Permission::ReadData),
    ("DescribeTable", Permission::ReadData),
    ("ComputeSplitPointsBySize", Permission::ReadData),
    ("ListSearchIndex", Permission::ReadData),
    ("ListStream", Permission::ReadData),
    ("DescribeStream", Permission::ReadData),
    ("GetShardIterator", Permission::ReadData),
    ("GetStreamRecord", Permission::ReadData),
    ("PutRow", Permission::WriteData),
    ("UpdateRow", Permission::WriteData),
    ("DeleteRow", Permission::WriteData),
    ("BatchWriteRow", Permission::WriteData),
    ("StartLocalTransaction", Permission::WriteData),
    ("CommitTransaction", Permission::WriteData),
    ("AbortTransaction", Permission::WriteData),
    ("CreateTable", Permission::ManageTables),
    ("UpdateTable", Permission::ManageTables),
    ("DeleteTable", Permission::ManageTables),
    ("CreateIndex", Permission::ManageTables),
    ("DropIndex", Permission::ManageTables),
    // The backup API (crate::backup_api), in tablesafe_proto::backup_api::ACTIONS order.
    ("CreateBackupPlan", Permission::ManagePlans),
    ("UpdateBackupPlan", Permission::ManagePlans),
    ("DeleteBackupPlan", Permission::ManagePlans),
    ("ListBackupPlans", Permission::ListBackups),
    ("DescribeBackupPlan", Permission::ListBackups),
    ("StartBackup", Permission::RunBackups),
    ("ListSnapshots", Permission::ListBackups),
    ("ListRecoveryPoints", Permission::ListBackups),
    ("VerifyBackup", Permission::RunBackups),
    ("StartRestore", Permission::Restore),
    ("VerifyRestore", Permission::Restore),
    ("ListJobs", Permission::ListBackups),
    ("DescribeJob", Permission::ListBackups),
    // Protection changes what retention keeps, so notes are a plan manager's.
    ("UpdateSnapshotInfo", Permission::ManagePlans),
    ("UpdateJobNote", Permission::Restore),
];

/// The index of `action` in [`ACTIONS`], or `None` for an action not served.
pub fn action_index(action: &str) -> Option<usize> {
    ACTIONS.iter().position(|(name, _)| *name == action)
}

/// The permission `action` needs, or `None` for an action not served.
pub fn permission(action: &str) -> Option<Permission> {
    action_index(action).map(|i| ACTIONS[i].1)
}

/// The role of each access key, by key id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRoles {
    by_id: HashMap<String, Role>,
}

impl KeyRoles {
    /// Roles from `(key id, role)` pairs.
    pub fn new(pairs: impl IntoIterator<Item = (String, Role)>) -> KeyRoles {
        KeyRoles { by_id: pairs.into_iter().collect() }
    }

    /// The role of the key `id`: `admin` when it is not listed.
    pub fn role_of(&self, id: &str) -> Role {
        self.by_id.get(id).copied().unwrap_or_default()
    }
}

/// Allows `action` to a key of `role`, or refuses it with 403 `OTSAuthFailed`.
pub fn authorize(role: Role, key_id: &str, action: &str, permission: Permission) -> Result<(), ApiError> {
    if role.allows(permission) {
        return Ok(());
    }
    Err(ApiError::auth(format!(
        "The access key '{key_id}' has the role '{role}', which does not allow {action} ({}).",
        permission.as_str()
    )))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap.
mod tests {
    use super::*;

    #[test]
    fn the_matrix_is_as_documented() {
        use Role::*;
        let allowed =
            |role: Role| -> Vec<&str> { ACTIONS.iter().filter(|(_, p)| role.allows(*p)).map(|(a, _)| *a).collect() };
        let reads = [
            "GetRow",
            "GetRange",
            "BatchGetRow",
            "ListTable",
            "DescribeTable",
            "ComputeSplitPointsBySize",
            "ListSearchIndex",
            "ListStream",
            "DescribeStream",
            "GetShardIterator",
            "GetStreamRecord",
        ];
        let writes = [
            "PutRow",
            "UpdateRow",
            "DeleteRow",
            "BatchWriteRow",
            "StartLocalTransaction",
            "CommitTransaction",
            "AbortTransaction",
        ];
        let tables = ["CreateTable", "UpdateTable", "DeleteTable", "CreateIndex", "DropIndex"];
        let plans = ["CreateBackupPlan", "UpdateBackupPlan", "DeleteBackupPlan", "UpdateSnapshotInfo"];
        let list_backups =
            ["ListBackupPlans", "DescribeBackupPlan", "ListSnapshots", "ListRecoveryPoints", "ListJobs", "DescribeJob"];
        let run_backups = ["StartBackup", "VerifyBackup"];
        let restore = ["StartRestore", "VerifyRestore", "UpdateJobNote"];
        let sorted = |groups: &[&[&'static str]]| {
            let mut all: Vec<&str> = groups.concat();
            all.sort_unstable();
            all
        };
        let allowed_sorted = |role| sorted(&[&allowed(role)]);
        assert_eq!(
            allowed_sorted(Admin),
            sorted(&[&reads, &writes, &tables, &plans, &list_backups, &run_backups, &restore])
        );
        assert_eq!(allowed_sorted(Admin).len(), ACTIONS.len());
        assert_eq!(allowed_sorted(ReadWrite), sorted(&[&reads, &writes, &tables, &list_backups]));
        assert_eq!(allowed_sorted(ReadOnly), sorted(&[&reads, &list_backups]));
        assert_eq!(allowed_sorted(BackupOperator), sorted(&[&reads, &list_backups, &run_backups, &restore]));
    }

    #[test]
    fn every_backup_action_is_classified() {
        let classified: Vec<&str> =
            ACTIONS.iter().map(|(a, _)| *a).filter(|a| crate::backup_api::is_backup_action(a)).collect();
        assert_eq!(classified, tablesafe_proto::backup_api::ACTIONS);
    }

    #[test]
    fn role_names_round_trip_and_default_to_admin() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("root".parse::<Role>().is_err());
        assert_eq!(Role::default(), Role::Admin);
        let roles = KeyRoles::new([("ro".to_owned(), Role::ReadOnly)]);
        assert_eq!(roles.role_of("ro"), Role::ReadOnly);
        assert_eq!(roles.role_of("unlisted"), Role::Admin);
    }

    #[test]
    fn a_refusal_names_the_role_and_the_action() {
        let err = authorize(Role::ReadOnly, "k1", "PutRow", Permission::WriteData).unwrap_err();
        let (code, message) = err.to_wire();
        assert_eq!(code, tablesafe_proto::ErrorCode::AuthFailed);
        assert_eq!(code.http_status(), 403);
        assert!(message.contains("'read-only'") && message.contains("PutRow"), "{message}");
        assert!(authorize(Role::BackupOperator, "k1", "GetStreamRecord", Permission::ReadData).is_ok());
    }

    #[test]
    fn every_classified_action_has_a_handler() {
        for (action, _) in ACTIONS {
            let served = crate::api::handler_for(action).is_some() || crate::backup_api::is_backup_action(action);
            assert!(served, "{action} is classified but not served");
        }
    }
}
