//! The two adapters of the `pds::mailer::Mailer` port: [`SmtpMailer`] (lettre over tokio with
//! rustls, configured by `smtp_url`) and [`FileOutbox`], the default when no SMTP server is
//! configured, which writes each email as an `.eml` file under `<data_dir>/outbox/` and logs
//! one line naming the file. Neither logs an email's body (it carries one-time codes).
//!
//! [`from_config`] picks one; `config.rs` validates `email_from` and `smtp_url` with
//! [`check_address`] and [`check_smtp_url`] so a bad value fails at start-up.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use pds::mailer::{Email, MailError, Mailer};

use crate::config::Config;

/// The folder under the data directory that [`FileOutbox`] writes to.
pub const OUTBOX_DIR: &str = "outbox";

/// Checks a sender address (`config.rs`).
pub fn check_address(address: &str) -> Result<(), String> {
    address
        .parse::<Mailbox>()
        .map(drop)
        .map_err(|e| format!("not an email address: {e}"))
}

/// Checks an SMTP URL (`config.rs`) without connecting. The message never repeats the URL (it
/// may hold a password).
pub fn check_smtp_url(url: &str) -> Result<(), String> {
    AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
        .map(drop)
        .map_err(|e| format!("not a usable SMTP URL (smtp:// or smtps://): {e}"))
}

/// Why the configured mailer could not be built.
#[derive(Debug, thiserror::Error)]
pub enum MailerError {
    /// `email_from` is not an address.
    #[error("email_from: {0}")]
    From(String),
    /// `smtp_url` is not usable.
    #[error("smtp_url: {0}")]
    SmtpUrl(String),
}

/// The mailer the configuration asks for: SMTP when `smtp_url` is set, else the file outbox
/// under the data directory.
pub fn from_config(config: &Config) -> Result<Arc<dyn Mailer>, MailerError> {
    let from: Mailbox = config
        .email_from
        .parse()
        .map_err(|e| MailerError::From(format!("{e}")))?;
    Ok(match &config.smtp_url {
        Some(url) => Arc::new(SmtpMailer::new(url.expose(), from)?),
        None => Arc::new(FileOutbox::new(config.data_dir.join(OUTBOX_DIR), from)),
    })
}

fn message(from: &Mailbox, email: &Email) -> Result<Message, MailError> {
    let to: Mailbox = email
        .to
        .parse()
        .map_err(|_| MailError::Address(email.to.clone()))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(email.subject.clone())
        .header(lettre::message::header::ContentType::TEXT_PLAIN)
        .body(email.text.clone())
        .map_err(|e| MailError::Transport(Box::new(e)))
}

/// Sends through an SMTP server (connection pool, TLS by rustls per the URL scheme).
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// A mailer for `url` (`smtp://[user:pass@]host[:port][?tls=required]`, `smtps://...`).
    pub fn new(url: &str, from: Mailbox) -> Result<SmtpMailer, MailerError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| MailerError::SmtpUrl(e.to_string()))?
            .build();
        Ok(SmtpMailer { transport, from })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        let message = message(&self.from, email)?;
        self.transport
            .send(message)
            .await
            .map_err(|e| MailError::Transport(Box::new(e)))?;
        tracing::info!(to = %email.to, subject = %email.subject, "email sent over SMTP");
        Ok(())
    }
}

/// Creates `path` with mode 0600 (on Unix) and writes `bytes`.
async fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path).await?;
    file.write_all(bytes).await?;
    file.flush().await
}

/// Writes each email as `<millis>-<n>.eml` (RFC 5322 text) into a folder: the default mailer,
/// for tests and servers without SMTP. The operator reads the files; the log names them.
#[derive(Debug)]
pub struct FileOutbox {
    dir: PathBuf,
    from: Mailbox,
    counter: AtomicU64,
}

impl FileOutbox {
    /// An outbox writing into `dir` (created on first use).
    pub fn new(dir: PathBuf, from: Mailbox) -> FileOutbox {
        FileOutbox {
            dir,
            from,
            counter: AtomicU64::new(0),
        }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[async_trait]
impl Mailer for FileOutbox {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        let bytes = message(&self.from, email)?.formatted();
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(|e| MailError::Transport(Box::new(e)))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let name = format!("{now:013}-{}-{n:04}.eml", std::process::id());
        let path = self.dir.join(&name);
        // Written under a temporary name, then renamed: readers never see half a file. Owner
        // read/write only: the files hold one-time codes.
        let tmp = self.dir.join(format!(".{name}.tmp"));
        write_private(&tmp, &bytes)
            .await
            .map_err(|e| MailError::Transport(Box::new(e)))?;
        tokio::fs::rename(&tmp, &path)
            .await
            .map_err(|e| MailError::Transport(Box::new(e)))?;
        tracing::info!(
            to = %email.to,
            subject = %email.subject,
            path = %path.display(),
            "email written to the outbox (no smtp_url configured)"
        );
        Ok(())
    }
}
