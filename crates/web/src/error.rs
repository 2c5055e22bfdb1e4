//! Every API error is `{"code": "...", "message": "..."}` with a stable code and
//! the HTTP status that fits.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use gongzhi_store::{ActError, StoreError};

/// A size limit as people read it: "1048576 bytes (1 MiB)".
pub fn byte_size(bytes: usize) -> String {
    const KIB: usize = 1024;
    const MIB: usize = 1024 * 1024;
    let short = |n: usize, unit: usize, name: &str| {
        let value = n as f64 / unit as f64;
        if n.is_multiple_of(unit) {
            format!("{} {name}", n / unit)
        } else {
            format!("{value:.1} {name}")
        }
    };
    match bytes {
        b if b >= MIB => format!("{b} bytes ({})", short(b, MIB, "MiB")),
        b if b >= KIB => format!("{b} bytes ({})", short(b, KIB, "KiB")),
        b => format!("{b} bytes"),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "invalid_field",
            message: format!("{field}: {message}"),
            field: Some(field.to_string()),
        }
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn case_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "case_not_found", "case not found")
    }

    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "log in or send an API key",
        )
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; it has been logged",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(&self)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Invalid { field, message } => ApiError::invalid(&field, message),
            StoreError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            StoreError::Forbidden(m) => ApiError::forbidden(m),
            StoreError::NotFound(what) => ApiError::not_found(what),
            StoreError::Unavailable(m) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", m)
            }
            other => {
                tracing::error!(error = %other, "store error");
                ApiError::internal()
            }
        }
    }
}

impl From<ActError> for ApiError {
    fn from(e: ActError) -> Self {
        match e {
            ActError::CaseNotFound => ApiError::case_not_found(),
            ActError::UnknownCaseType { .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_case_type",
                e.to_string(),
            ),
            ActError::Engine(engine) => {
                let code = engine.code();
                let status = match code {
                    "role_not_allowed" => StatusCode::FORBIDDEN,
                    "wrong_state" | "already_created" => StatusCode::CONFLICT,
                    _ => StatusCode::UNPROCESSABLE_ENTITY,
                };
                ApiError {
                    status,
                    code,
                    message: engine.to_string(),
                    field: engine.field().map(str::to_string),
                }
            }
            ActError::Invalid { field, message } => ApiError::invalid(&field, message),
            ActError::GuardFailed { guard, message } => ApiError {
                status: StatusCode::CONFLICT,
                code: "precondition_failed",
                message: format!("{guard}: {message}"),
                field: None,
            },
            ActError::VersionConflict { .. } => {
                ApiError::new(StatusCode::CONFLICT, "version_conflict", e.to_string())
            }
            ActError::Store(s) => s.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_bytes_and_units() {
        assert_eq!(byte_size(1024 * 1024), "1048576 bytes (1 MiB)");
        assert_eq!(
            byte_size(10 * 1024 * 1024 + 512 * 1024),
            "11010048 bytes (10.5 MiB)"
        );
        assert_eq!(byte_size(4096), "4096 bytes (4 KiB)");
        assert_eq!(byte_size(100), "100 bytes");
    }
}
