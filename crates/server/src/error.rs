//! The one place where failures become Tablestore wire errors: every error the
//! request path can meet is turned into an [`ErrorCode`] (which fixes the HTTP status)
//! and a message worded as the service words it.

use tablesafe_engine::EngineError;
use tablesafe_proto::{ErrorCode, ProtoError};

/// A request that failed, as the client will see it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The engine refused or failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The request bytes are malformed.
    #[error(transparent)]
    Proto(#[from] ProtoError),
    /// A protocol-level refusal with its code.
    #[error("{message}")]
    Wire {
        /// Error code.
        code: ErrorCode,
        /// Message.
        message: String,
    },
}

impl ApiError {
    /// An OTSParameterInvalid error.
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::Wire { code: ErrorCode::ParameterInvalid, message: message.into() }
    }

    /// An OTSAuthFailed error.
    pub fn auth(message: impl Into<String>) -> Self {
        ApiError::Wire { code: ErrorCode::AuthFailed, message: message.into() }
    }

    /// An internal error whose details stay in the log.
    pub fn internal(context: &str) -> Self {
        tracing::error!(context, "internal error");
        ApiError::Wire { code: ErrorCode::InternalServerError, message: "Internal server error.".into() }
    }

    /// The code and message sent to the client.
    pub fn to_wire(&self) -> (ErrorCode, String) {
        match self {
            ApiError::Engine(e) => {
                let code = e.code();
                if code == ErrorCode::InternalServerError {
                    // Storage failures are logged with detail but not shown.
                    tracing::error!(error = %e, "engine failure");
                    (code, "Internal server error.".into())
                } else {
                    (code, e.to_string())
                }
            }
            ApiError::Proto(ProtoError::MissingHeader { name }) => {
                (ErrorCode::ParameterInvalid, format!("Missing header: {name}."))
            }
            ApiError::Proto(e @ ProtoError::Checksum { .. }) => {
                (ErrorCode::ParameterInvalid, format!("Checksum mismatch: {e}"))
            }
            ApiError::Proto(e) => (e.code(), e.to_string()),
            ApiError::Wire { code, message } => (*code, message.clone()),
        }
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_and_proto_errors_map_to_service_codes() {
        let e = ApiError::from(EngineError::TableNotFound { table: "t".into() });
        assert_eq!(e.to_wire(), (ErrorCode::ObjectNotExist, "Requested table does not exist.".into()));
        assert_eq!(e.to_wire().0.http_status(), 404);
        let e = ApiError::from(EngineError::ConditionFailed);
        assert_eq!(e.to_wire().0.http_status(), 403);
        let e = ApiError::from(ProtoError::plainbuffer("bad tag"));
        assert_eq!(e.to_wire().0, ErrorCode::ParameterInvalid);
        let e = ApiError::from(ProtoError::MissingHeader { name: "x-ots-date".into() });
        assert_eq!(e.to_wire().1, "Missing header: x-ots-date.");
    }
}
