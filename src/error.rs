//! The one error type of the gateway and its mapping to GraphQL `extensions.code`.
//!
//! Policy: every error a client sees carries one of DESIGN.md's codes. Messages of
//! `Internal` errors are replaced by a generic text before they leave the process; the
//! cause (SQL, paths, driver messages) goes to the log only. Constraint violations are
//! turned into `CONFLICT` here, in one place, not at each call site.

use async_graphql::ErrorExtensions;
use sea_orm::{DbErr, SqlErr};

/// A failure an operation reports to its caller.
///
/// Deliberately not `Display`: it converts into a GraphQL error only through the
/// `From` impl below, which sets the code and hides internal causes.
#[derive(Debug)]
pub enum AppError {
    Unauthenticated(String),
    Forbidden(String),
    NotFound(String),
    BadUserInput(String),
    Conflict(String),
    InsufficientCredits(String),
    RateLimited(String),
    QueryTooComplex(String),
    /// The message is for the log; clients get "internal error".
    Internal(String),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthenticated(_) => "UNAUTHENTICATED",
            AppError::Forbidden(_) => "FORBIDDEN",
            AppError::NotFound(_) => "NOT_FOUND",
            AppError::BadUserInput(_) => "BAD_USER_INPUT",
            AppError::Conflict(_) => "CONFLICT",
            AppError::InsufficientCredits(_) => "INSUFFICIENT_CREDITS",
            AppError::RateLimited(_) => "RATE_LIMITED",
            AppError::QueryTooComplex(_) => "QUERY_TOO_COMPLEX",
            AppError::Internal(_) => "INTERNAL",
        }
    }

    /// The text a client may see.
    pub fn public_message(&self) -> String {
        match self {
            AppError::Internal(_) => "internal error".to_owned(),
            AppError::Unauthenticated(m)
            | AppError::Forbidden(m)
            | AppError::NotFound(m)
            | AppError::BadUserInput(m)
            | AppError::Conflict(m)
            | AppError::InsufficientCredits(m)
            | AppError::RateLimited(m)
            | AppError::QueryTooComplex(m) => m.clone(),
        }
    }

    pub fn not_found(what: &str) -> Self {
        AppError::NotFound(format!("{what} not found"))
    }

    pub fn bad_input(msg: impl Into<String>) -> Self {
        AppError::BadUserInput(msg.into())
    }

    pub fn user_required() -> Self {
        AppError::Unauthenticated("sign in as a user to do this".to_owned())
    }
}

impl From<DbErr> for AppError {
    fn from(err: DbErr) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => {
                AppError::Conflict("a row with the same key already exists".to_owned())
            }
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => {
                AppError::NotFound("a referenced row does not exist".to_owned())
            }
            _ => {
                tracing::error!(error = %err, "database error");
                AppError::Internal(err.to_string())
            }
        }
    }
}

impl From<AppError> for async_graphql::Error {
    fn from(err: AppError) -> Self {
        if let AppError::Internal(cause) = &err {
            tracing::error!(%cause, "internal error");
        }
        let code = err.code();
        async_graphql::Error::new(err.public_message()).extend_with(|_, ext| ext.set("code", code))
    }
}

/// An error shared by every key of a dataloader batch.
#[derive(Debug, Clone)]
pub struct SharedError(pub std::sync::Arc<AppError>);

impl From<AppError> for SharedError {
    fn from(err: AppError) -> Self {
        SharedError(std::sync::Arc::new(err))
    }
}

impl From<DbErr> for SharedError {
    fn from(err: DbErr) -> Self {
        AppError::from(err).into()
    }
}

impl From<SharedError> for async_graphql::Error {
    fn from(err: SharedError) -> Self {
        let code = err.0.code();
        async_graphql::Error::new(err.0.public_message())
            .extend_with(|_, ext| ext.set("code", code))
    }
}
