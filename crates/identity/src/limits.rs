//! Size and field limits for *new* PLC operations (checklist #106, #110).
//!
//! A PLC directory checks these before accepting a submitted operation, and a PDS should check
//! them before submitting one, so the user gets a local error. They are deliberately **not**
//! applied when replaying a historical audit log: logs accepted under older rules must still
//! validate (the shared vectors include a genesis op with a duplicated rotation key and an update
//! with `rotationKeys: []`).
//!
//! Sources for the defaults: the did:plc spec ("How it works": 1-5 rotation keys with no
//! duplicates; changelog v0.2: at most 10 verification methods; "Operation Serialization": at most
//! 7,500 bytes of DAG-CBOR) and, for what the spec leaves open, the limits of the reference
//! directory (`packages/server/src/constraints.ts`: 10 aliases of at most 258 characters with no
//! duplicates, 10 services, ids of at most 32 characters, service type 256 and endpoint 512
//! characters, verification-method keys of at most 256 characters). Legacy `create` operations
//! are refused for new DIDs, as the spec says.

use std::collections::BTreeSet;

use crypto::PublicKey;

use crate::operation::{Operation, SignedOperation};

/// The limits applied to a newly submitted operation. [`Default`] gives the spec's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpLimits {
    /// Maximum size of the signed operation in DAG-CBOR (spec: 7,500).
    pub max_op_bytes: usize,
    /// Minimum number of rotation keys (spec: 1).
    pub min_rotation_keys: usize,
    /// Maximum number of rotation keys (spec: 5).
    pub max_rotation_keys: usize,
    /// Maximum number of verification methods (spec v0.2: 10).
    pub max_verification_methods: usize,
    /// Maximum number of `alsoKnownAs` entries.
    pub max_also_known_as: usize,
    /// Maximum length of one `alsoKnownAs` entry (253-character hostname + `at://`).
    pub max_also_known_as_len: usize,
    /// Maximum number of services.
    pub max_services: usize,
    /// Maximum length of a verification-method or service id.
    pub max_id_len: usize,
    /// Maximum length of a service `type`.
    pub max_service_type_len: usize,
    /// Maximum length of a service `endpoint`.
    pub max_service_endpoint_len: usize,
    /// Maximum length of a verification-method `did:key`.
    pub max_did_key_len: usize,
}

impl Default for OpLimits {
    fn default() -> Self {
        OpLimits {
            max_op_bytes: 7500,
            min_rotation_keys: 1,
            max_rotation_keys: 5,
            max_verification_methods: 10,
            max_also_known_as: 10,
            max_also_known_as_len: 258,
            max_services: 10,
            max_id_len: 32,
            max_service_type_len: 256,
            max_service_endpoint_len: 512,
            max_did_key_len: 256,
        }
    }
}

/// Why a new operation breaks a limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// The signed operation's DAG-CBOR is too large.
    #[error("operation is {size} bytes in DAG-CBOR, more than the maximum of {max}")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Legacy `create` operations are not accepted for new DIDs.
    #[error("legacy \"create\" operations are no longer accepted")]
    LegacyCreate,
    /// A list or map has too few or too many entries.
    #[error("{field} has {count} entries; allowed: {min} to {max}")]
    Count {
        /// The field (`rotationKeys`, `verificationMethods`, `alsoKnownAs`, `services`).
        field: &'static str,
        /// How many it has.
        count: usize,
        /// The minimum.
        min: usize,
        /// The maximum.
        max: usize,
    },
    /// A string is too long.
    #[error("{field} entry {value:?} is longer than {max} characters")]
    TooLong {
        /// Which field (`alsoKnownAs`, `services id`, `services type`, ...).
        field: &'static str,
        /// The offending value.
        value: String,
        /// The limit.
        max: usize,
    },
    /// The same entry appears twice.
    #[error("{field} lists {value:?} more than once")]
    Duplicate {
        /// `rotationKeys` or `alsoKnownAs`.
        field: &'static str,
        /// The repeated value.
        value: String,
    },
    /// A rotation key is not a P-256 or K-256 `did:key`.
    #[error("rotation key {0:?} is not a P-256 or K-256 did:key")]
    InvalidRotationKey(String),
    /// A verification method is not a syntactically valid `did:key` (`did:key:z` + base58btc).
    #[error("verification method key {0:?} is not a did:key with a base58btc multibase")]
    InvalidVerificationMethod(String),
}

impl OpLimits {
    /// Checks a new operation against these limits.
    pub fn check(&self, op: &SignedOperation) -> Result<(), LimitError> {
        let size = op.cbor().len();
        if size > self.max_op_bytes {
            return Err(LimitError::TooLarge {
                size,
                max: self.max_op_bytes,
            });
        }
        let fields = match op.operation() {
            Operation::Regular { fields, .. } => fields,
            Operation::Tombstone { .. } => return Ok(()),
            Operation::LegacyCreate(_) => return Err(LimitError::LegacyCreate),
        };

        count(
            "rotationKeys",
            fields.rotation_keys.len(),
            self.min_rotation_keys,
            self.max_rotation_keys,
        )?;
        no_duplicates("rotationKeys", &fields.rotation_keys)?;
        for key in &fields.rotation_keys {
            PublicKey::from_did_key(key)
                .map_err(|_| LimitError::InvalidRotationKey(key.clone()))?;
        }

        count(
            "verificationMethods",
            fields.verification_methods.len(),
            0,
            self.max_verification_methods,
        )?;
        for (id, key) in &fields.verification_methods {
            self.max_len("verificationMethods id", id, self.max_id_len)?;
            self.max_len("verificationMethods key", key, self.max_did_key_len)?;
            if !is_did_key_syntax(key) {
                return Err(LimitError::InvalidVerificationMethod(key.clone()));
            }
        }

        count(
            "alsoKnownAs",
            fields.also_known_as.len(),
            0,
            self.max_also_known_as,
        )?;
        no_duplicates("alsoKnownAs", &fields.also_known_as)?;
        for aka in &fields.also_known_as {
            self.max_len("alsoKnownAs", aka, self.max_also_known_as_len)?;
        }

        count("services", fields.services.len(), 0, self.max_services)?;
        for (id, service) in &fields.services {
            self.max_len("services id", id, self.max_id_len)?;
            self.max_len(
                "services type",
                &service.service_type,
                self.max_service_type_len,
            )?;
            self.max_len(
                "services endpoint",
                &service.endpoint,
                self.max_service_endpoint_len,
            )?;
        }
        Ok(())
    }

    fn max_len(&self, field: &'static str, value: &str, max: usize) -> Result<(), LimitError> {
        if value.chars().count() > max {
            return Err(LimitError::TooLong {
                field,
                value: value.to_owned(),
                max,
            });
        }
        Ok(())
    }
}

fn count(field: &'static str, n: usize, min: usize, max: usize) -> Result<(), LimitError> {
    if n < min || n > max {
        return Err(LimitError::Count {
            field,
            count: n,
            min,
            max,
        });
    }
    Ok(())
}

fn no_duplicates(field: &'static str, items: &[String]) -> Result<(), LimitError> {
    let mut seen = BTreeSet::new();
    for item in items {
        if !seen.insert(item.as_str()) {
            return Err(LimitError::Duplicate {
                field,
                value: item.clone(),
            });
        }
    }
    Ok(())
}

/// `did:key:z` + non-empty base58btc: the only syntax spec v0.2 requires of verification-method
/// keys (any key type is allowed).
fn is_did_key_syntax(key: &str) -> bool {
    key.strip_prefix("did:key:z")
        .is_some_and(|b58| !b58.is_empty() && bs58::decode(b58).into_vec().is_ok())
}
