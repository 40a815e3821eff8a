//! [`PlcDirectory`]: the state of the local PLC directory, one [`PlcLog`] per DID, kept in memory
//! and (optionally) persisted as an append-only JSON-lines file.
//!
//! **File format.** One line per accepted operation, in acceptance order: the audit-log entry
//! `{"did", "operation", "cid", "nullified": false, "createdAt"}` as it was when accepted. The
//! `nullified` flag in the file is not trusted: opening the file replays every line through
//! [`PlcLog::apply`] with its `createdAt`, which re-validates each operation and recomputes
//! nullification. A line is appended (and fsynced) before the in-memory log changes, so an
//! acknowledged operation survives a crash. A torn last line (no trailing newline, from a crash
//! during a write) is dropped and truncated away on open; any other bad line is an error, never
//! silently skipped.
//!
//! Why not SQLite: the directory is a test and air-gap tool with small logs; the `store` crate's
//! SQLite pool can replace this file later behind the same API.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use identity::{AuditEntry, PlcError, PlcLog, SignedOperation};
use serde_json::Value as Json;
use syntax::{Datetime, Did};
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;

/// Why the directory file could not be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum PlcStoreError {
    /// Reading or writing the file failed.
    #[error("PLC directory file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line of the file is not a valid, replayable entry.
    #[error("PLC directory file {path}, line {line}: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// Why a submitted operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The path segment is not a DID.
    #[error("invalid DID: {0}")]
    InvalidDid(String),
    /// The DID is not a did:plc.
    #[error("not a did:plc: {0}")]
    NotPlc(Did),
    /// The body is not a well-formed signed operation.
    #[error("invalid operation: {0}")]
    Parse(#[from] identity::OpParseError),
    /// The operation is not valid where it would go (signature, prev, authority, limits, ...).
    #[error("{0}")]
    Rejected(#[from] PlcError),
    /// Persisting the operation failed (nothing was changed).
    #[error(transparent)]
    Storage(#[from] PlcStoreError),
}

/// What a lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup<T> {
    /// The DID exists and is live.
    Found(T),
    /// No operation was ever accepted for the DID.
    NotRegistered,
    /// The DID's head is a tombstone (deactivated).
    Tombstoned,
}

struct State {
    logs: HashMap<Did, PlcLog>,
    file: Option<(PathBuf, tokio::fs::File)>,
}

/// The local PLC directory's state. Share it with `Arc`.
pub struct PlcDirectory {
    state: Mutex<State>,
}

impl std::fmt::Debug for PlcDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlcDirectory").finish_non_exhaustive()
    }
}

impl PlcDirectory {
    /// An empty directory that keeps nothing on disk (tests).
    pub fn in_memory() -> PlcDirectory {
        PlcDirectory {
            state: Mutex::new(State {
                logs: HashMap::new(),
                file: None,
            }),
        }
    }

    /// Opens (or creates) the JSON-lines file at `path` and replays it.
    pub async fn open(path: &Path) -> Result<PlcDirectory, PlcStoreError> {
        let io = |source| PlcStoreError::Io {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir).await.map_err(io)?;
        }
        let text = match tokio::fs::read_to_string(path).await {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(io(e)),
        };
        let complete = match text.rfind('\n') {
            Some(i) => i + 1,
            None => 0,
        };
        if complete < text.len() {
            tracing::warn!(
                path = %path.display(),
                bytes = text.len() - complete,
                "dropping a torn last line (interrupted write)"
            );
        }
        let mut logs: HashMap<Did, PlcLog> = HashMap::new();
        for (i, line) in text[..complete].lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let corrupt = |message: String| PlcStoreError::Corrupt {
                path: path.to_owned(),
                line: i + 1,
                message,
            };
            let json: Json = serde_json::from_str(line).map_err(|e| corrupt(e.to_string()))?;
            let entry = AuditEntry::from_json(&json).map_err(|e| corrupt(e.to_string()))?;
            let log = logs
                .entry(entry.did.clone())
                .or_insert_with(|| PlcLog::new(entry.did.clone()));
            log.apply(entry.operation, entry.created_at)
                .map_err(|e| corrupt(e.to_string()))?;
        }
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .await
            .map_err(io)?;
        if complete < text.len() {
            file.set_len(complete as u64).await.map_err(io)?;
        }
        Ok(PlcDirectory {
            state: Mutex::new(State {
                logs,
                file: Some((path.to_owned(), file)),
            }),
        })
    }

    /// Validates `op_json` as the next operation of `did` and, if valid, persists and applies it
    /// (checklist #106-#111, #113). Returns the accepted entry.
    pub async fn submit(&self, did: &str, op_json: &Json) -> Result<AuditEntry, SubmitError> {
        let did: Did = did
            .parse()
            .map_err(|e: syntax::DidError| SubmitError::InvalidDid(e.to_string()))?;
        if !identity::is_plc_did(&did) {
            return Err(SubmitError::NotPlc(did));
        }
        let op = SignedOperation::from_json(op_json)?;

        let mut state = self.state.lock().await;
        let mut log = state
            .logs
            .get(&did)
            .cloned()
            .unwrap_or_else(|| PlcLog::new(did.clone()));
        let now = next_timestamp(log.head().map(|h| &h.created_at));
        log.apply(op, now)?;
        let entry = log
            .head()
            .cloned()
            .ok_or(SubmitError::Rejected(PlcError::EmptyLog))?;

        if let Some((path, file)) = &mut state.file {
            let mut line = serde_json::to_string(&entry.to_json()).unwrap_or_default();
            line.push('\n');
            let io = |source| PlcStoreError::Io {
                path: path.clone(),
                source,
            };
            file.write_all(line.as_bytes()).await.map_err(io)?;
            file.sync_data().await.map_err(io)?;
        }
        state.logs.insert(did, log);
        Ok(entry)
    }

    /// Runs `f` on the log of `did` (if any).
    async fn with_log<T>(&self, did: &str, f: impl FnOnce(&PlcLog) -> T) -> Option<T> {
        let did: Did = did.parse().ok()?;
        let state = self.state.lock().await;
        state.logs.get(&did).map(f)
    }

    /// `GET /{did}`: the DID document as JSON.
    pub async fn document(&self, did: &str) -> Lookup<Json> {
        self.live(did, |log| log.document().map(|d| d.to_json()))
            .await
    }

    /// `GET /{did}/data`: `{did, verificationMethods, rotationKeys, alsoKnownAs, services}`.
    pub async fn data(&self, did: &str) -> Lookup<Json> {
        self.live(did, |log| log.data().map(|d| d.to_json())).await
    }

    async fn live(&self, did: &str, f: impl FnOnce(&PlcLog) -> Option<Json>) -> Lookup<Json> {
        match self.with_log(did, f).await {
            None => Lookup::NotRegistered,
            Some(None) => Lookup::Tombstoned,
            Some(Some(json)) => Lookup::Found(json),
        }
    }

    /// `GET /{did}/log`: the active operations, oldest first (tombstone included).
    pub async fn operation_log(&self, did: &str) -> Lookup<Json> {
        self.with_log(did, |log| {
            Json::Array(
                log.log()
                    .into_iter()
                    .map(SignedOperation::to_json)
                    .collect(),
            )
        })
        .await
        .map_or(Lookup::NotRegistered, Lookup::Found)
    }

    /// `GET /{did}/log/audit`: every accepted operation with `cid`, `nullified`, `createdAt`.
    pub async fn audit_log(&self, did: &str) -> Lookup<Json> {
        self.with_log(did, PlcLog::audit_log_json)
            .await
            .map_or(Lookup::NotRegistered, Lookup::Found)
    }

    /// `GET /{did}/log/last`: the current head operation (a tombstone for a deactivated DID).
    pub async fn last_operation(&self, did: &str) -> Lookup<Json> {
        self.with_log(did, |log| log.head().map(|h| h.operation.to_json()))
            .await
            .flatten()
            .map_or(Lookup::NotRegistered, Lookup::Found)
    }

    /// `GET /export`: up to `count` audit entries of all DIDs accepted after `after`, oldest
    /// first.
    pub async fn export(&self, count: usize, after: Option<&Datetime>) -> Vec<Json> {
        let state = self.state.lock().await;
        let mut entries: Vec<&AuditEntry> = state
            .logs
            .values()
            .flat_map(|log| log.audit_log().iter())
            .filter(|e| after.is_none_or(|a| e.created_at > *a))
            .collect();
        entries.sort_by(|a, b| a.created_at.cmp(&b.created_at));
        entries
            .into_iter()
            .take(count)
            .map(AuditEntry::to_json)
            .collect()
    }
}

/// Now, or just after the head if the clock has not moved past it (a log's timestamps must
/// strictly increase).
fn next_timestamp(head: Option<&Datetime>) -> Datetime {
    let now = Datetime::now();
    match head {
        Some(head) if now.timestamp_micros() <= head.timestamp_micros() => {
            let next_milli = (head.timestamp_micros() / 1000 + 1) * 1000;
            Datetime::from_timestamp_micros(next_milli).unwrap_or(now)
        }
        _ => now,
    }
}
