//! The one domain error of the use cases: an [`ErrorKind`] that names the XRPC error (as the
//! lexicons under `lexicons/com/atproto/` spell it), a human message safe to show clients, and
//! for internal failures the source error, kept for logging only.
//!
//! The HTTP status for each kind is chosen by the `relay` crate in one place; the doc comment
//! of each kind says what the reference PDS sends.

use std::fmt;

use crate::ports::{Conflict, StoreError};

/// What went wrong, as an XRPC error name ([`ErrorKind::name`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Malformed or unacceptable input (400).
    InvalidRequest,
    /// Missing or wrong credentials (401). Wire name `AuthenticationRequired`, as the
    /// reference's `AuthRequiredError` sends.
    AuthRequired,
    /// A token that is malformed, forged, revoked, of the wrong type or scope (400 in the
    /// reference; 401 is also reasonable).
    InvalidToken,
    /// A token past its `exp` (400 in the reference).
    ExpiredToken,
    /// The account is taken down (401 on login, 400 elsewhere).
    AccountTakedown,
    /// The account is deactivated and the call needs an active one (400).
    AccountDeactivated,
    /// 2FA needed (`createSession`); not produced yet (no email 2FA), listed for completeness.
    AuthFactorTokenRequired,
    /// No such repository / account (400 in the reference sync API, 404 is also used).
    RepoNotFound,
    /// The repository is taken down (400).
    RepoTakendown,
    /// The repository is suspended (400).
    RepoSuspended,
    /// The repository is deactivated (400).
    RepoDeactivated,
    /// No such record (400 per lexicon; the reference sends 400).
    RecordNotFound,
    /// No such (committed) blob (400).
    BlobNotFound,
    /// A requested block is absent (400).
    BlockNotFound,
    /// `swapCommit` / `swapRecord` did not match (400, checklist #184).
    InvalidSwap,
    /// The handle is taken (400).
    HandleNotAvailable,
    /// The handle is malformed, reserved or under a disallowed TLD (400).
    InvalidHandle,
    /// The handle is not under one of the server's domains (400).
    UnsupportedDomain,
    /// The password does not meet the rules (400).
    InvalidPassword,
    /// Invite code missing or wrong (400).
    InvalidInviteCode,
    /// An admin lookup found no such subject (400 `NotFound`, as the reference's admin API).
    NotFound,
    /// `getServiceAuth` `exp` out of range (400, checklist #137).
    BadExpiration,
    /// A body (blob) above the configured limit (413).
    PayloadTooLarge,
    /// An upstream service (the PLC directory) failed (502).
    UpstreamFailure,
    /// `updateEmail` without the token a confirmed email requires (400).
    TokenRequired,
    /// `confirmEmail` with an email that is not the account's (400).
    InvalidEmail,
    /// The authenticated account no longer exists (400, `confirmEmail`).
    AccountNotFound,
    /// A bug or a storage failure (500); the message is generic, the source is for logs.
    Internal,
}

impl ErrorKind {
    /// The XRPC `error` name (no whitespace, checklist #126).
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest => "InvalidRequest",
            ErrorKind::AuthRequired => "AuthenticationRequired",
            ErrorKind::InvalidToken => "InvalidToken",
            ErrorKind::ExpiredToken => "ExpiredToken",
            ErrorKind::AccountTakedown => "AccountTakedown",
            ErrorKind::AccountDeactivated => "AccountDeactivated",
            ErrorKind::AuthFactorTokenRequired => "AuthFactorTokenRequired",
            ErrorKind::RepoNotFound => "RepoNotFound",
            ErrorKind::RepoTakendown => "RepoTakendown",
            ErrorKind::RepoSuspended => "RepoSuspended",
            ErrorKind::RepoDeactivated => "RepoDeactivated",
            ErrorKind::RecordNotFound => "RecordNotFound",
            ErrorKind::BlobNotFound => "BlobNotFound",
            ErrorKind::BlockNotFound => "BlockNotFound",
            ErrorKind::InvalidSwap => "InvalidSwap",
            ErrorKind::HandleNotAvailable => "HandleNotAvailable",
            ErrorKind::InvalidHandle => "InvalidHandle",
            ErrorKind::UnsupportedDomain => "UnsupportedDomain",
            ErrorKind::InvalidPassword => "InvalidPassword",
            ErrorKind::InvalidInviteCode => "InvalidInviteCode",
            ErrorKind::NotFound => "NotFound",
            ErrorKind::BadExpiration => "BadExpiration",
            ErrorKind::PayloadTooLarge => "PayloadTooLarge",
            ErrorKind::UpstreamFailure => "UpstreamFailure",
            ErrorKind::TokenRequired => "TokenRequired",
            ErrorKind::InvalidEmail => "InvalidEmail",
            ErrorKind::AccountNotFound => "AccountNotFound",
            ErrorKind::Internal => "InternalServerError",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A use-case error (see the module docs).
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// Result of a use case.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `kind` with a client-facing message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Shorthand for [`ErrorKind::InvalidRequest`].
    pub fn invalid(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidRequest, message)
    }

    /// An internal error: `context` is logged with `source`; clients see a generic message.
    pub fn internal(
        context: &str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Error {
        Error {
            kind: ErrorKind::Internal,
            message: context.to_owned(),
            source: Some(source.into()),
        }
    }

    /// Attaches a source (kept for logs).
    pub fn with_source(
        mut self,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Error {
        self.source = Some(source.into());
        self
    }

    /// The kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The XRPC error name (`self.kind().name()`).
    pub fn name(&self) -> &'static str {
        self.kind.name()
    }

    /// The message for clients. For [`ErrorKind::Internal`] this is a fixed generic text; the
    /// context is in [`Error::log_message`].
    pub fn message(&self) -> &str {
        if self.kind == ErrorKind::Internal {
            "Internal Server Error"
        } else {
            &self.message
        }
    }

    /// The full message for logs, including the context of internal errors.
    pub fn log_message(&self) -> &str {
        &self.message
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.name(), self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<StoreError> for Error {
    /// Storage errors the use case did not handle itself are internal, except conflicts that
    /// have one obvious client meaning.
    fn from(e: StoreError) -> Error {
        match &e {
            StoreError::Conflict(Conflict::Handle) => {
                Error::new(ErrorKind::HandleNotAvailable, "Handle already taken")
            }
            StoreError::Conflict(Conflict::Email) => {
                Error::invalid("This email address is already in use")
            }
            StoreError::Conflict(Conflict::MissingBlob(cid)) => {
                Error::invalid(format!("Could not find blob: {cid}"))
            }
            StoreError::NotFound => Error::new(ErrorKind::RepoNotFound, "Could not find repo"),
            _ => Error::internal("storage failure", e),
        }
    }
}
