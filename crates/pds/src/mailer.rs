//! The mail port: [`Mailer`] sends one [`Email`]; the use cases in `account_tokens.rs` build the
//! emails (confirmation, email update, password reset, account deletion, PLC operation, and the
//! operator's `admin.sendEmail`). The `relay` crate owns the adapters (SMTP, and a file outbox
//! under the data directory for servers without SMTP).
//!
//! An [`Email`] usually carries a one-time token in its body: its `Debug` shows the recipient
//! and subject only, and adapters must not log the body.

use async_trait::async_trait;

/// One plain-text email to one recipient. The sender is the adapter's configuration.
#[derive(Clone, PartialEq, Eq)]
pub struct Email {
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body (may contain a one-time token: never log it).
    pub text: String,
}

impl std::fmt::Debug for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Email")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .field("text", &"<redacted>")
            .finish()
    }
}

/// Why an email could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// No mail transport is configured.
    #[error("no mailer is configured")]
    NotConfigured,
    /// The address is not one the transport accepts.
    #[error("invalid email address: {0}")]
    Address(String),
    /// The transport failed (SMTP refused, connection or file error).
    #[error("sending email failed: {0}")]
    Transport(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Sends emails (the port; adapters live in the `relay` crate).
///
/// Contract: `send` returns once the email has been handed to the transport (accepted by the
/// SMTP server, or written to the outbox); it never logs `email.text`.
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends one email.
    async fn send(&self, email: &Email) -> Result<(), MailError>;
}

/// A mailer that refuses every email with [`MailError::NotConfigured`]: the default of
/// [`crate::PdsDeps::from_store`] until the server sets a real one.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMailer;

#[async_trait]
impl Mailer for NoMailer {
    async fn send(&self, _email: &Email) -> Result<(), MailError> {
        Err(MailError::NotConfigured)
    }
}

/// A mailer that keeps every email in memory (tests).
#[derive(Debug, Default)]
pub struct MemoryMailer {
    sent: std::sync::Mutex<Vec<Email>>,
}

impl MemoryMailer {
    /// An empty outbox.
    pub fn new() -> MemoryMailer {
        MemoryMailer::default()
    }

    /// The emails sent so far, oldest first.
    pub fn sent(&self) -> Vec<Email> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl Mailer for MemoryMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        self.sent
            .lock()
            .map_err(|_| MailError::Transport("memory outbox lock poisoned".into()))?
            .push(email.clone());
        Ok(())
    }
}
