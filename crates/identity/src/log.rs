//! [`PlcLog`]: the operation log of one did:plc DID, as a PLC directory keeps it, and
//! [`validate_audit_log`] for whole logs (checklist #106-#109, #113).
//!
//! The log is an in-memory state machine (no storage). [`PlcLog::apply`] accepts a submitted
//! operation only if:
//! - it passes [`OpLimits`] (new operations only; replayed history skips this);
//! - on an empty log, it is a genesis operation (`prev: null`, not a tombstone), the DID derived
//!   from it is the log's DID, and one of its own rotation keys signed it;
//! - otherwise its `prev` names an operation in the log that is neither nullified nor a
//!   tombstone, its timestamp is strictly after the current head's, and it is signed by one of
//!   the rotation keys of `prev` that is *allowed* there.
//!
//! **Recovery.** Each accepted operation records which of its `prev`'s rotation keys signed it
//! (index `k`), and from then on only keys `0..k` of that `prev` may sign another child of it.
//! An operation whose `prev` is not the head therefore forks the history: it must be signed by a
//! key of strictly higher authority (lower index) than the one that signed the operation it
//! displaces, within 72 hours (inclusive) of that operation's timestamp, and every operation on
//! the displaced branch is marked nullified. This is the model of `go-didplc` (`AllowedKeys`
//! trimmed on commit) and gives the same results as the reference TypeScript
//! (`assureValidNextOp`: "more powerful keys" than the signer of the first nullified op).
//!
//! Timestamps: every accepted operation must be strictly later than the head (as in
//! `go-didplc`). A server that assigns `now` itself should pass a value later than
//! [`PlcLog::head`]'s `created_at`.

use data_model::Cid;
use serde_json::{Map, Value as Json, json};
use syntax::{Datetime, Did};

use crate::did_doc::DidDocument;
use crate::json_util::req_str;
use crate::limits::{LimitError, OpLimits};
use crate::operation::{OpParseError, PlcFields, SignatureError, SignedOperation};

/// The recovery window: a higher-authority key may nullify operations at most this old (72 h).
pub const RECOVERY_WINDOW_MICROS: i64 = 72 * 3600 * 1_000_000;

/// One entry of an audit log (`GET /<did>/log/audit`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// The DID the operation belongs to.
    pub did: Did,
    /// The signed operation.
    pub operation: SignedOperation,
    /// The operation's CID.
    pub cid: Cid,
    /// True if a recovery fork overrode this operation.
    pub nullified: bool,
    /// When the directory accepted the operation.
    pub created_at: Datetime,
}

impl AuditEntry {
    /// Parses an entry: `{did, operation, cid, nullified, createdAt}`. The `cid` is parsed, not
    /// checked against the operation ([`validate_audit_log`] does that).
    pub fn from_json(json: &Json) -> Result<AuditEntry, AuditEntryParseError> {
        let obj = json.as_object().ok_or(AuditEntryParseError::NotObject)?;
        let field =
            |name: &'static str| req_str(obj, name).map_err(|_| AuditEntryParseError::Field(name));
        let did = Did::try_from(field("did")?).map_err(|_| AuditEntryParseError::Field("did"))?;
        let cid =
            data_model::parse_cid(field("cid")?).map_err(|_| AuditEntryParseError::Field("cid"))?;
        let created_at = Datetime::try_from(field("createdAt")?)
            .map_err(|_| AuditEntryParseError::Field("createdAt"))?;
        let nullified = obj
            .get("nullified")
            .and_then(Json::as_bool)
            .ok_or(AuditEntryParseError::Field("nullified"))?;
        let operation = SignedOperation::from_json(
            obj.get("operation")
                .ok_or(AuditEntryParseError::Field("operation"))?,
        )?;
        Ok(AuditEntry {
            did,
            operation,
            cid,
            nullified,
            created_at,
        })
    }

    /// The entry as JSON, in the directory's format.
    pub fn to_json(&self) -> Json {
        json!({
            "did": self.did.as_str(),
            "operation": self.operation.to_json(),
            "cid": self.cid.to_string(),
            "nullified": self.nullified,
            "createdAt": self.created_at.as_str(),
        })
    }
}

/// Parses a whole audit log (a JSON array of entries).
pub fn parse_audit_log(json: &Json) -> Result<Vec<AuditEntry>, AuditEntryParseError> {
    json.as_array()
        .ok_or(AuditEntryParseError::NotArray)?
        .iter()
        .map(AuditEntry::from_json)
        .collect()
}

/// Why JSON is not an audit-log entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditEntryParseError {
    /// The log is not a JSON array.
    #[error("audit log must be a JSON array")]
    NotArray,
    /// The entry is not a JSON object.
    #[error("audit log entry must be a JSON object")]
    NotObject,
    /// A field is missing or invalid.
    #[error("audit log entry field {0:?} is missing or invalid")]
    Field(&'static str),
    /// The operation is malformed.
    #[error("audit log entry operation: {0}")]
    Operation(#[from] OpParseError),
}

/// The current state of a live DID: what `GET /<did>/data` serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlcState {
    /// The DID.
    pub did: Did,
    /// The data fields of the latest operation.
    pub fields: PlcFields,
}

impl PlcState {
    /// `{did, verificationMethods, rotationKeys, alsoKnownAs, services}`, as the reference
    /// directory serves it.
    pub fn to_json(&self) -> Json {
        let mut obj = Map::new();
        obj.insert("did".into(), Json::String(self.did.as_str().to_owned()));
        self.fields.write_json(&mut obj);
        Json::Object(obj)
    }

    /// The W3C DID document for this state.
    pub fn document(&self) -> DidDocument {
        DidDocument::from_plc(self)
    }
}

/// What [`PlcLog::apply`] did: the new operation's CID and the operations it nullified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// CID of the accepted operation (the new head).
    pub cid: Cid,
    /// CIDs of the operations this one nullified, oldest first (empty unless it was a recovery).
    pub nullified: Vec<Cid>,
}

/// Why an operation (or a whole log) was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlcError {
    /// A new operation breaks a size or field limit.
    #[error("operation breaks a limit: {0}")]
    Limit(#[from] LimitError),
    /// The first operation of a log has a `prev`.
    #[error("the first operation of a DID must be a genesis operation (prev: null)")]
    NotGenesis,
    /// A genesis operation was submitted for a DID that already has one.
    #[error("the DID already exists; an update needs a prev")]
    AlreadyExists,
    /// The genesis operation does not hash to the DID.
    #[error("genesis operation derives {derived}, not {expected}")]
    GenesisDidMismatch {
        /// The log's DID.
        expected: Did,
        /// The DID the genesis operation derives.
        derived: Did,
    },
    /// `prev` is not the CID of any operation in the log.
    #[error("prev {0} is not an operation of this DID")]
    PrevNotFound(Cid),
    /// `prev` names a nullified operation.
    #[error("prev {0} was nullified and cannot be built on")]
    PrevNullified(Cid),
    /// `prev` names a tombstone: a deactivated DID has no keys.
    #[error("prev {0} is a tombstone; the DID is deactivated")]
    PrevTombstoned(Cid),
    /// The signature is malformed or no allowed key verifies it.
    #[error("invalid signature: {0}")]
    Signature(#[from] SignatureError),
    /// A fork (recovery) signed by a rotation key of `prev` that does not have more authority
    /// than the key that signed the operation it would override.
    #[error(
        "recovery must be signed by a rotation key with higher priority than the one it overrides"
    )]
    InsufficientAuthority,
    /// A fork (recovery) more than 72 hours after the first operation it would nullify.
    #[error(
        "recovery is {elapsed_micros} µs after the operation it overrides; the window is 72 hours"
    )]
    RecoveryWindowExpired {
        /// Time between the overridden operation and the recovery.
        elapsed_micros: i64,
    },
    /// The timestamp is not strictly after the current head's.
    #[error("operation timestamp {created_at} is not after the head's {head}")]
    TimestampOrder {
        /// The new operation's timestamp.
        created_at: Datetime,
        /// The head's timestamp.
        head: Datetime,
    },
    /// Audit log: the log is empty.
    #[error("audit log is empty")]
    EmptyLog,
    /// Audit log: an entry is for a different DID than the first.
    #[error("audit log entry is for {found}, not {expected}")]
    DidMismatch {
        /// The log's DID.
        expected: Did,
        /// The entry's DID.
        found: Did,
    },
    /// Audit log: an entry's `cid` is not its operation's CID.
    #[error("audit log entry cid {claimed} does not match the operation's CID {computed}")]
    CidMismatch {
        /// The CID in the entry.
        claimed: String,
        /// The CID of the operation.
        computed: String,
    },
    /// Audit log: an entry's `nullified` flag is not what replaying the log gives.
    #[error("audit log entry nullified={claimed}, but replay gives nullified={computed}")]
    NullifiedMismatch {
        /// The flag in the entry.
        claimed: bool,
        /// The flag from replay.
        computed: bool,
    },
}

/// A [`PlcError`] at a position in an audit log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit log entry {index}: {error}")]
pub struct AuditLogError {
    /// Index of the offending entry (0 for an empty log).
    pub index: usize,
    /// What is wrong with it.
    pub error: PlcError,
}

/// Bookkeeping per entry, parallel to [`PlcLog::entries`].
#[derive(Debug, Clone, PartialEq, Eq)]
struct Node {
    /// How many of this operation's leading rotation keys may still sign a child of it.
    allowed: usize,
    /// The most recent child (the one on the active branch), if any.
    last_child: Option<usize>,
}

/// The outcome of validation, before anything is changed.
struct Plan {
    prev: Option<usize>,
    key_index: usize,
    nullify: Vec<usize>,
}

/// The operation log of one did:plc DID. See the module docs for the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlcLog {
    did: Did,
    limits: OpLimits,
    entries: Vec<AuditEntry>,
    nodes: Vec<Node>,
    head: Option<usize>,
}

impl PlcLog {
    /// An empty log for `did`, with the spec's [`OpLimits`] for new operations.
    pub fn new(did: Did) -> PlcLog {
        PlcLog::with_limits(did, OpLimits::default())
    }

    /// An empty log for `did` with custom limits for new operations.
    pub fn with_limits(did: Did, limits: OpLimits) -> PlcLog {
        PlcLog {
            did,
            limits,
            entries: Vec::new(),
            nodes: Vec::new(),
            head: None,
        }
    }

    /// Validates a submitted operation against the log and, if it is valid, appends it with
    /// timestamp `now` (nullifying operations if it is a recovery). Nothing changes on error.
    pub fn apply(&mut self, op: SignedOperation, now: Datetime) -> Result<Applied, PlcError> {
        self.limits.check(&op)?;
        self.replay(op, now)
    }

    /// Like [`Self::apply`] without the [`OpLimits`] (for history accepted under older rules).
    fn replay(&mut self, op: SignedOperation, now: Datetime) -> Result<Applied, PlcError> {
        let plan = self.plan(&op, &now)?;
        Ok(self.commit(op, now, plan))
    }

    fn plan(&self, op: &SignedOperation, now: &Datetime) -> Result<Plan, PlcError> {
        let Some(head) = self.head else {
            if !op.operation().is_genesis() {
                return Err(PlcError::NotGenesis);
            }
            let derived = did_of(op);
            if derived != self.did {
                return Err(PlcError::GenesisDidMismatch {
                    expected: self.did.clone(),
                    derived,
                });
            }
            let key_index = op.verify(&op.operation().rotation_keys())?;
            return Ok(Plan {
                prev: None,
                key_index,
                nullify: Vec::new(),
            });
        };

        let prev_cid = op.operation().prev().ok_or(PlcError::AlreadyExists)?;
        let p = self
            .entries
            .iter()
            .position(|e| e.cid == *prev_cid)
            .ok_or(PlcError::PrevNotFound(*prev_cid))?;
        let prev = &self.entries[p];
        if prev.nullified {
            return Err(PlcError::PrevNullified(*prev_cid));
        }
        if prev.operation.operation().is_tombstone() {
            return Err(PlcError::PrevTombstoned(*prev_cid));
        }
        let head_time = &self.entries[head].created_at;
        if now.timestamp_micros() <= head_time.timestamp_micros() {
            return Err(PlcError::TimestampOrder {
                created_at: now.clone(),
                head: head_time.clone(),
            });
        }

        let keys = prev.operation.operation().rotation_keys();
        let allowed = &keys[..self.nodes[p].allowed.min(keys.len())];
        let key_index = match op.verify(allowed) {
            Ok(i) => i,
            // A key of `prev` did sign it, just not one with enough authority for a fork.
            Err(_) if allowed.len() < keys.len() && op.verify(&keys).is_ok() => {
                return Err(PlcError::InsufficientAuthority);
            }
            Err(e) => return Err(e.into()),
        };

        let mut nullify = Vec::new();
        let mut next = self.nodes[p].last_child;
        while let Some(i) = next {
            nullify.push(i);
            next = self.nodes[i].last_child;
        }
        if let Some(&first) = nullify.first() {
            let elapsed_micros =
                now.timestamp_micros() - self.entries[first].created_at.timestamp_micros();
            if elapsed_micros > RECOVERY_WINDOW_MICROS {
                return Err(PlcError::RecoveryWindowExpired { elapsed_micros });
            }
        }
        Ok(Plan {
            prev: Some(p),
            key_index,
            nullify,
        })
    }

    fn commit(&mut self, op: SignedOperation, now: Datetime, plan: Plan) -> Applied {
        let index = self.entries.len();
        if let Some(p) = plan.prev {
            self.nodes[p].allowed = plan.key_index;
            self.nodes[p].last_child = Some(index);
        }
        let mut nullified = Vec::with_capacity(plan.nullify.len());
        for &i in &plan.nullify {
            self.entries[i].nullified = true;
            nullified.push(self.entries[i].cid);
        }
        let cid = op.cid();
        self.nodes.push(Node {
            allowed: op.operation().rotation_keys().len(),
            last_child: None,
        });
        self.entries.push(AuditEntry {
            did: self.did.clone(),
            operation: op,
            cid,
            nullified: false,
            created_at: now,
        });
        self.head = Some(index);
        Applied { cid, nullified }
    }

    /// The DID.
    pub fn did(&self) -> &Did {
        &self.did
    }

    /// True if no operation has been accepted yet.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The most recent non-nullified entry (the one the next update must name as `prev`).
    pub fn head(&self) -> Option<&AuditEntry> {
        self.head.map(|i| &self.entries[i])
    }

    /// True if the DID has been deactivated (its head is a tombstone).
    pub fn is_tombstoned(&self) -> bool {
        self.head()
            .is_some_and(|e| e.operation.operation().is_tombstone())
    }

    /// The current state (`GET /<did>/data`); `None` if the log is empty or tombstoned.
    pub fn data(&self) -> Option<PlcState> {
        let fields = self.head()?.operation.operation().fields()?;
        Some(PlcState {
            did: self.did.clone(),
            fields,
        })
    }

    /// The DID document (`GET /<did>`); `None` if the log is empty or tombstoned.
    pub fn document(&self) -> Option<DidDocument> {
        self.data().map(|d| d.document())
    }

    /// The active (non-nullified) operations, oldest first (`GET /<did>/log`).
    pub fn log(&self) -> Vec<&SignedOperation> {
        self.entries
            .iter()
            .filter(|e| !e.nullified)
            .map(|e| &e.operation)
            .collect()
    }

    /// Every accepted operation, nullified ones included, in acceptance order
    /// (`GET /<did>/log/audit`).
    pub fn audit_log(&self) -> &[AuditEntry] {
        &self.entries
    }

    /// The audit log as the directory's JSON array.
    pub fn audit_log_json(&self) -> Json {
        Json::Array(self.entries.iter().map(AuditEntry::to_json).collect())
    }
}

/// Validates a whole audit log by replaying it: every entry is for the same DID, its `cid` is
/// its operation's CID, each operation is valid where it stands (genesis derives the DID,
/// signatures, `prev` chain, tombstones, recovery authority and the 72-hour window), and every
/// `nullified` flag is what the replay gives (checklist #109, #113).
///
/// History is replayed without [`OpLimits`], so old logs accepted under older rules stay valid.
/// Returns the rebuilt log, ready for its views or for new operations.
pub fn validate_audit_log(entries: &[AuditEntry]) -> Result<PlcLog, AuditLogError> {
    let first = entries.first().ok_or(AuditLogError {
        index: 0,
        error: PlcError::EmptyLog,
    })?;
    let mut log = PlcLog::new(first.did.clone());
    for (index, entry) in entries.iter().enumerate() {
        let at = |error| AuditLogError { index, error };
        if entry.did != first.did {
            return Err(at(PlcError::DidMismatch {
                expected: first.did.clone(),
                found: entry.did.clone(),
            }));
        }
        let computed = entry.operation.cid();
        if computed != entry.cid {
            return Err(at(PlcError::CidMismatch {
                claimed: entry.cid.to_string(),
                computed: computed.to_string(),
            }));
        }
        log.replay(entry.operation.clone(), entry.created_at.clone())
            .map_err(at)?;
    }
    for (index, (claimed, computed)) in entries.iter().zip(&log.entries).enumerate() {
        if claimed.nullified != computed.nullified {
            return Err(AuditLogError {
                index,
                error: PlcError::NullifiedMismatch {
                    claimed: claimed.nullified,
                    computed: computed.nullified,
                },
            });
        }
    }
    Ok(log)
}

/// The DID a genesis operation derives (only called for genesis operations).
fn did_of(op: &SignedOperation) -> Did {
    crate::operation::did_for_signed_genesis(&op.cbor())
}
