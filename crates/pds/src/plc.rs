//! The PLC directory as the use cases see it: [`PlcClient`] (submit an operation, resolve a
//! DID), implemented over HTTP by the `relay` crate, and [`MemoryPlc`], an in-process directory
//! that validates operations with [`identity::PlcLog`] exactly as a real one would (for tests
//! and for single-binary setups that run their own directory).

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use identity::{DidDocument, PlcLog, SignedOperation};
use syntax::{Datetime, Did};

/// Why a PLC directory call failed.
#[derive(Debug, thiserror::Error)]
pub enum PlcClientError {
    /// The directory refused the operation (invalid signature, wrong `prev`, ...).
    #[error("PLC directory rejected the operation: {0}")]
    Rejected(String),
    /// The directory could not be reached or answered garbage.
    #[error("PLC directory unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A PLC directory client (checklist #111).
#[async_trait]
pub trait PlcClient: Send + Sync {
    /// Submits a signed operation for `did` (`POST /<did>`).
    async fn submit(&self, did: &Did, op: &SignedOperation) -> Result<(), PlcClientError>;

    /// The current DID document of `did` (`GET /<did>`), `None` if the directory does not know
    /// it (or it is tombstoned).
    async fn resolve(&self, did: &Did) -> Result<Option<DidDocument>, PlcClientError>;

    /// The current head operation of `did` (the last entry of `GET /<did>/log`), which the
    /// next update names as `prev`; `None` if the directory does not know the DID. The default
    /// says the client cannot do this (updates then fail with `UpstreamFailure`).
    async fn last_operation(&self, did: &Did) -> Result<Option<SignedOperation>, PlcClientError> {
        let _ = did;
        Err(PlcClientError::Unavailable(Box::new(NotSupported)))
    }
}

#[derive(Debug, thiserror::Error)]
#[error("this PLC client cannot read operation logs")]
struct NotSupported;

/// An in-memory PLC directory (see the module docs).
#[derive(Debug, Default)]
pub struct MemoryPlc {
    logs: Mutex<HashMap<Did, PlcLog>>,
}

impl MemoryPlc {
    /// An empty directory.
    pub fn new() -> MemoryPlc {
        MemoryPlc::default()
    }

    /// Number of DIDs known.
    pub fn len(&self) -> usize {
        self.logs.lock().map(|l| l.len()).unwrap_or(0)
    }

    /// True when no DID is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug, thiserror::Error)]
#[error("PLC directory state lock poisoned")]
struct Poisoned;

#[async_trait]
impl PlcClient for MemoryPlc {
    async fn submit(&self, did: &Did, op: &SignedOperation) -> Result<(), PlcClientError> {
        let mut logs = self
            .logs
            .lock()
            .map_err(|_| PlcClientError::Unavailable(Box::new(Poisoned)))?;
        let log = logs
            .entry(did.clone())
            .or_insert_with(|| PlcLog::new(did.clone()));
        let res = log.apply(op.clone(), Datetime::now());
        if log.is_empty() {
            logs.remove(did);
        }
        res.map(drop)
            .map_err(|e| PlcClientError::Rejected(e.to_string()))
    }

    async fn resolve(&self, did: &Did) -> Result<Option<DidDocument>, PlcClientError> {
        let logs = self
            .logs
            .lock()
            .map_err(|_| PlcClientError::Unavailable(Box::new(Poisoned)))?;
        Ok(logs.get(did).and_then(PlcLog::document))
    }

    async fn last_operation(&self, did: &Did) -> Result<Option<SignedOperation>, PlcClientError> {
        let logs = self
            .logs
            .lock()
            .map_err(|_| PlcClientError::Unavailable(Box::new(Poisoned)))?;
        Ok(logs
            .get(did)
            .and_then(|l| l.log().last().map(|op| (*op).clone())))
    }
}
