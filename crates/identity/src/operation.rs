//! did:plc operations: the three operation shapes, their exact DAG-CBOR bytes, signing, strict
//! signature checks, operation CIDs and genesis-derived DIDs (checklist #106-#109).
//!
//! Spec: `did-method-plc` `website/spec/v0.1/did-plc.md` ("Operation Serialization, Signing, and
//! Validation", "DID Creation"). The shapes are `plc_operation` (create or update),
//! `plc_tombstone` (deactivate) and the legacy `create` (genesis only, read and verify only: we
//! never build one). Operations are parsed *strictly*, like the reference implementation's zod
//! schemas: unknown fields, missing fields and wrong types are errors, because the signature and
//! the CID cover exactly the submitted fields and a lenient parse would re-encode different bytes.
//! `prev` must be the canonical string form of a CIDv1 dag-cbor sha2-256 (`bafyrei…`), so it
//! round-trips byte for byte.
//!
//! What this file does not do: decide whether an operation may follow another one (that is
//! [`crate::PlcLog`]) or enforce the size and field limits on new operations (that is
//! [`crate::OpLimits`]).

use std::collections::BTreeMap;

use base64::Engine as _;
use crypto::{CryptoError, Keypair, PublicKey};
use data_model::{CODEC_DAG_CBOR, Cid, HASH_SHA2_256, Value};
use serde_json::{Map, Value as Json, json};
use syntax::{Did, Handle};

use crate::json_util::{FieldError, req_str, req_str_array, req_str_map, unknown_key};

/// `type` of a regular create/update operation.
pub const TYPE_OPERATION: &str = "plc_operation";
/// `type` of a tombstone (deactivation) operation.
pub const TYPE_TOMBSTONE: &str = "plc_tombstone";
/// `type` of the deprecated legacy genesis operation.
pub const TYPE_LEGACY_CREATE: &str = "create";
/// The `verificationMethods` entry holding the atproto repo signing key.
pub const ATPROTO_VERIFICATION_METHOD: &str = "atproto";
/// The `services` entry naming the account's PDS.
pub const ATPROTO_PDS_SERVICE: &str = "atproto_pds";
/// The `type` of the `atproto_pds` service.
pub const ATPROTO_PDS_TYPE: &str = "AtprotoPersonalDataServer";

/// One `services` entry of a PLC operation: `{"type": …, "endpoint": …}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlcService {
    /// The service `type`, e.g. `AtprotoPersonalDataServer`.
    pub service_type: String,
    /// The service URL, e.g. `https://pds.example.com`.
    pub endpoint: String,
}

/// The data fields of a regular operation (everything but `type`, `prev` and `sig`): the state
/// of a DID after the operation is applied.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PlcFields {
    /// `did:key`s allowed to sign the next operation, highest authority first.
    pub rotation_keys: Vec<String>,
    /// Named `did:key`s (e.g. `atproto` → the repo signing key); no control over the DID.
    pub verification_methods: BTreeMap<String, String>,
    /// Aliases, e.g. `at://alice.example.com` for the handle.
    pub also_known_as: Vec<String>,
    /// Named services, e.g. `atproto_pds`.
    pub services: BTreeMap<String, PlcService>,
}

impl PlcFields {
    /// The fields of a standard atproto account: `rotation_keys` (highest authority first), the
    /// repo signing key as `verificationMethods.atproto`, the handle as the only `alsoKnownAs`
    /// entry and the PDS as `services.atproto_pds`. `pds_endpoint` gets `https://` if it has no
    /// scheme.
    pub fn atproto(
        rotation_keys: Vec<String>,
        signing_key: &PublicKey,
        handle: &Handle,
        pds_endpoint: &str,
    ) -> PlcFields {
        let mut fields = PlcFields {
            rotation_keys,
            ..PlcFields::default()
        };
        fields.set_atproto_signing_key(signing_key);
        fields.set_handle(handle);
        fields.set_pds_endpoint(pds_endpoint);
        fields
    }

    /// Sets `verificationMethods.atproto` to `key` (as a `did:key`).
    pub fn set_atproto_signing_key(&mut self, key: &PublicKey) {
        self.verification_methods
            .insert(ATPROTO_VERIFICATION_METHOD.to_owned(), key.to_did_key());
    }

    /// Replaces the first `at://` entry of `alsoKnownAs` with `at://<handle>`, or puts it first
    /// when there is none (the reference library's rule, so other aliases keep their places).
    pub fn set_handle(&mut self, handle: &Handle) {
        let aka = format!("at://{}", handle.as_str());
        match self
            .also_known_as
            .iter()
            .position(|a| a.starts_with("at://"))
        {
            Some(i) => self.also_known_as[i] = aka,
            None => self.also_known_as.insert(0, aka),
        }
    }

    /// Sets `services.atproto_pds` to an `AtprotoPersonalDataServer` at `endpoint` (`https://` is
    /// added when there is no scheme).
    pub fn set_pds_endpoint(&mut self, endpoint: &str) {
        self.services.insert(
            ATPROTO_PDS_SERVICE.to_owned(),
            PlcService {
                service_type: ATPROTO_PDS_TYPE.to_owned(),
                endpoint: ensure_http_prefix(endpoint),
            },
        );
    }

    /// The handle: the first `alsoKnownAs` entry that is `at://` + a syntactically valid handle.
    pub fn handle(&self) -> Option<Handle> {
        first_at_handle(&self.also_known_as)
    }

    /// The `did:key` in `verificationMethods.atproto`, if any.
    pub fn atproto_signing_key(&self) -> Option<&str> {
        self.verification_methods
            .get(ATPROTO_VERIFICATION_METHOD)
            .map(String::as_str)
    }

    /// The endpoint of `services.atproto_pds`, if it is an `AtprotoPersonalDataServer`.
    pub fn pds_endpoint(&self) -> Option<&str> {
        self.services
            .get(ATPROTO_PDS_SERVICE)
            .filter(|s| s.service_type == ATPROTO_PDS_TYPE)
            .map(|s| s.endpoint.as_str())
    }

    fn insert_into(&self, map: &mut BTreeMap<String, Value>) {
        map.insert(
            "rotationKeys".into(),
            Value::List(self.rotation_keys.iter().map(|k| string(k)).collect()),
        );
        map.insert(
            "verificationMethods".into(),
            Value::Map(
                self.verification_methods
                    .iter()
                    .map(|(k, v)| (k.clone(), string(v)))
                    .collect(),
            ),
        );
        map.insert(
            "alsoKnownAs".into(),
            Value::List(self.also_known_as.iter().map(|a| string(a)).collect()),
        );
        map.insert(
            "services".into(),
            Value::Map(
                self.services
                    .iter()
                    .map(|(k, s)| {
                        let entry = BTreeMap::from([
                            ("type".to_owned(), string(&s.service_type)),
                            ("endpoint".to_owned(), string(&s.endpoint)),
                        ]);
                        (k.clone(), Value::Map(entry))
                    })
                    .collect(),
            ),
        );
    }

    /// The fields as JSON object members (`rotationKeys`, `verificationMethods`, `alsoKnownAs`,
    /// `services`), appended to `obj`.
    pub(crate) fn write_json(&self, obj: &mut Map<String, Json>) {
        obj.insert(
            "verificationMethods".into(),
            Json::Object(
                self.verification_methods
                    .iter()
                    .map(|(k, v)| (k.clone(), Json::String(v.clone())))
                    .collect(),
            ),
        );
        obj.insert("rotationKeys".into(), json!(self.rotation_keys));
        obj.insert("alsoKnownAs".into(), json!(self.also_known_as));
        obj.insert(
            "services".into(),
            Json::Object(
                self.services
                    .iter()
                    .map(|(k, s)| {
                        (
                            k.clone(),
                            json!({"type": s.service_type, "endpoint": s.endpoint}),
                        )
                    })
                    .collect(),
            ),
        );
    }
}

/// The deprecated `create` genesis operation. Still found at the start of old logs; the DID and
/// the CID are computed over this form, so it is kept as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyCreate {
    /// The repo signing key (also the second rotation key).
    pub signing_key: String,
    /// The recovery key (the first rotation key).
    pub recovery_key: String,
    /// The bare handle (no `at://`).
    pub handle: String,
    /// The PDS URL.
    pub service: String,
}

impl LegacyCreate {
    /// The equivalent regular fields, as the reference library normalises them:
    /// rotation keys `[recoveryKey, signingKey]`, `atproto` = signing key, `at://` + handle, and
    /// an `atproto_pds` service.
    pub fn to_fields(&self) -> PlcFields {
        PlcFields {
            rotation_keys: vec![self.recovery_key.clone(), self.signing_key.clone()],
            verification_methods: BTreeMap::from([(
                ATPROTO_VERIFICATION_METHOD.to_owned(),
                self.signing_key.clone(),
            )]),
            also_known_as: vec![ensure_at_prefix(&self.handle)],
            services: BTreeMap::from([(
                ATPROTO_PDS_SERVICE.to_owned(),
                PlcService {
                    service_type: ATPROTO_PDS_TYPE.to_owned(),
                    endpoint: ensure_http_prefix(&self.service),
                },
            )]),
        }
    }
}

/// An unsigned PLC operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// `plc_operation`: a genesis (`prev` is `None`) or an update.
    Regular {
        /// The new state.
        fields: PlcFields,
        /// CID of the operation this one follows; `None` for a genesis operation.
        prev: Option<Cid>,
    },
    /// `plc_tombstone`: deactivates the DID.
    Tombstone {
        /// CID of the operation this one follows.
        prev: Cid,
    },
    /// Legacy `create` (genesis only; `prev` is always `null`).
    LegacyCreate(LegacyCreate),
}

impl Operation {
    /// A genesis `plc_operation` (`prev: null`).
    pub fn genesis(fields: PlcFields) -> Operation {
        Operation::Regular { fields, prev: None }
    }

    /// An update `plc_operation` following the operation whose CID is `prev`.
    pub fn update(fields: PlcFields, prev: Cid) -> Operation {
        Operation::Regular {
            fields,
            prev: Some(prev),
        }
    }

    /// A tombstone following the operation whose CID is `prev`.
    pub fn tombstone(prev: Cid) -> Operation {
        Operation::Tombstone { prev }
    }

    /// The `type` string.
    pub fn type_name(&self) -> &'static str {
        match self {
            Operation::Regular { .. } => TYPE_OPERATION,
            Operation::Tombstone { .. } => TYPE_TOMBSTONE,
            Operation::LegacyCreate(_) => TYPE_LEGACY_CREATE,
        }
    }

    /// The `prev` CID; `None` for a genesis operation.
    pub fn prev(&self) -> Option<&Cid> {
        match self {
            Operation::Regular { prev, .. } => prev.as_ref(),
            Operation::Tombstone { prev } => Some(prev),
            Operation::LegacyCreate(_) => None,
        }
    }

    /// True for a genesis operation (`prev: null`).
    pub fn is_genesis(&self) -> bool {
        self.prev().is_none()
    }

    /// True for a tombstone.
    pub fn is_tombstone(&self) -> bool {
        matches!(self, Operation::Tombstone { .. })
    }

    /// The state this operation sets (normalised for a legacy `create`); `None` for a tombstone.
    pub fn fields(&self) -> Option<PlcFields> {
        match self {
            Operation::Regular { fields, .. } => Some(fields.clone()),
            Operation::Tombstone { .. } => None,
            Operation::LegacyCreate(legacy) => Some(legacy.to_fields()),
        }
    }

    /// The rotation keys this operation installs, i.e. the keys that may sign the operation after
    /// it (and, for a genesis operation, the operation itself). A tombstone installs none; a
    /// legacy `create` installs `[recoveryKey, signingKey]`.
    pub fn rotation_keys(&self) -> Vec<&str> {
        match self {
            Operation::Regular { fields, .. } => {
                fields.rotation_keys.iter().map(String::as_str).collect()
            }
            Operation::Tombstone { .. } => Vec::new(),
            Operation::LegacyCreate(l) => vec![l.recovery_key.as_str(), l.signing_key.as_str()],
        }
    }

    /// The operation as a data-model map, without `sig`.
    fn to_value_map(&self) -> BTreeMap<String, Value> {
        let mut map = BTreeMap::new();
        map.insert("type".to_owned(), string(self.type_name()));
        match self {
            Operation::Regular { fields, prev } => {
                fields.insert_into(&mut map);
                map.insert(
                    "prev".into(),
                    prev.as_ref()
                        .map_or(Value::Null, |c| Value::String(c.to_string())),
                );
            }
            Operation::Tombstone { prev } => {
                map.insert("prev".into(), Value::String(prev.to_string()));
            }
            Operation::LegacyCreate(l) => {
                map.insert("signingKey".into(), string(&l.signing_key));
                map.insert("recoveryKey".into(), string(&l.recovery_key));
                map.insert("handle".into(), string(&l.handle));
                map.insert("service".into(), string(&l.service));
                map.insert("prev".into(), Value::Null);
            }
        }
        map
    }

    /// The DAG-CBOR bytes that are signed: the operation without a `sig` key (checklist #108).
    pub fn unsigned_cbor(&self) -> Vec<u8> {
        data_model::cbor::encode(&Value::Map(self.to_value_map()))
    }

    /// Signs the operation with `key`: ECDSA-SHA256 over [`Self::unsigned_cbor`], low-S, 64-byte
    /// `r‖s`, base64url without padding (checklist #108).
    pub fn sign(self, key: &Keypair) -> SignedOperation {
        let sig = key.sign(&self.unsigned_cbor());
        SignedOperation {
            op: self,
            sig: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig),
        }
    }

    /// The operation as JSON, without `sig`.
    pub fn to_json(&self) -> Json {
        Json::Object(self.json_map())
    }

    fn json_map(&self) -> Map<String, Json> {
        let mut obj = Map::new();
        obj.insert("type".into(), Json::String(self.type_name().to_owned()));
        match self {
            Operation::Regular { fields, prev } => {
                fields.write_json(&mut obj);
                obj.insert(
                    "prev".into(),
                    prev.as_ref()
                        .map_or(Json::Null, |c| Json::String(c.to_string())),
                );
            }
            Operation::Tombstone { prev } => {
                obj.insert("prev".into(), Json::String(prev.to_string()));
            }
            Operation::LegacyCreate(l) => {
                obj.insert("signingKey".into(), Json::String(l.signing_key.clone()));
                obj.insert("recoveryKey".into(), Json::String(l.recovery_key.clone()));
                obj.insert("handle".into(), Json::String(l.handle.clone()));
                obj.insert("service".into(), Json::String(l.service.clone()));
                obj.insert("prev".into(), Json::Null);
            }
        }
        obj
    }
}

/// A signed PLC operation: an [`Operation`] plus its `sig` text exactly as received.
///
/// The `sig` text is kept verbatim (not decoded) because the operation's CID covers it: a
/// non-canonical encoding changes the CID and must fail verification, not be silently fixed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedOperation {
    op: Operation,
    sig: String,
}

impl SignedOperation {
    /// Pairs an operation with a `sig` string (for example one produced by an external signer).
    /// Nothing is checked here; [`Self::verify`] checks the signature.
    pub fn from_parts(op: Operation, sig: String) -> SignedOperation {
        SignedOperation { op, sig }
    }

    /// The unsigned operation.
    pub fn operation(&self) -> &Operation {
        &self.op
    }

    /// The `sig` text.
    pub fn sig(&self) -> &str {
        &self.sig
    }

    /// Gives back the unsigned operation.
    pub fn into_operation(self) -> Operation {
        self.op
    }

    /// The DAG-CBOR bytes of the signed operation (hashed for the CID, the DID and the size
    /// limit).
    pub fn cbor(&self) -> Vec<u8> {
        let mut map = self.op.to_value_map();
        map.insert("sig".to_owned(), Value::String(self.sig.clone()));
        data_model::cbor::encode(&Value::Map(map))
    }

    /// The operation's CID: CIDv1, dag-cbor, sha2-256 of [`Self::cbor`].
    pub fn cid(&self) -> Cid {
        data_model::cid_for_cbor(&self.cbor())
    }

    /// For a genesis operation, the DID it creates: `did:plc:` + the first 24 characters of
    /// lowercase base32 of sha256 of the signed DAG-CBOR (checklist #109). `None` otherwise.
    pub fn genesis_did(&self) -> Option<Did> {
        self.op
            .is_genesis()
            .then(|| did_for_signed_genesis(&self.cbor()))
    }

    /// Decodes `sig` strictly: base64url with no padding characters, no whitespace and zero
    /// trailing bits, exactly 64 bytes (compact `r‖s`; DER is not accepted).
    pub fn signature_bytes(&self) -> Result<[u8; 64], SignatureError> {
        decode_sig(&self.sig)
    }

    /// Verifies the signature against `keys` (`did:key` strings, in priority order) and returns
    /// the index of the first key that verifies. Keys that do not parse as P-256/K-256 `did:key`s
    /// are skipped (they cannot have signed anything). High-S signatures never verify.
    pub fn verify<S: AsRef<str>>(&self, keys: &[S]) -> Result<usize, SignatureError> {
        let sig = self.signature_bytes()?;
        if keys.is_empty() {
            return Err(SignatureError::NoKeys);
        }
        let msg = self.op.unsigned_cbor();
        let mut high_s = false;
        for (i, key) in keys.iter().enumerate() {
            let Ok(public) = PublicKey::from_did_key(key.as_ref()) else {
                continue;
            };
            match public.verify(&msg, &sig) {
                Ok(()) => return Ok(i),
                Err(CryptoError::HighS) => high_s = true,
                Err(_) => {}
            }
        }
        Err(if high_s {
            SignatureError::HighS
        } else {
            SignatureError::NoMatchingKey
        })
    }

    /// The signed operation as JSON (the form submitted to and served by a PLC directory).
    pub fn to_json(&self) -> Json {
        let mut obj = self.op.json_map();
        obj.insert("sig".into(), Json::String(self.sig.clone()));
        Json::Object(obj)
    }

    /// Parses a signed operation from JSON, strictly (see the module docs).
    pub fn from_json(json: &Json) -> Result<SignedOperation, OpParseError> {
        let obj = json.as_object().ok_or(OpParseError::NotObject)?;
        let ty = req_str(obj, "type").map_err(OpParseError::from)?;
        let allowed: &[&str] = match ty {
            TYPE_OPERATION => &[
                "type",
                "rotationKeys",
                "verificationMethods",
                "alsoKnownAs",
                "services",
                "prev",
                "sig",
            ],
            TYPE_TOMBSTONE => &["type", "prev", "sig"],
            TYPE_LEGACY_CREATE => &[
                "type",
                "signingKey",
                "recoveryKey",
                "handle",
                "service",
                "prev",
                "sig",
            ],
            other => return Err(OpParseError::UnknownType(other.to_owned())),
        };
        if let Some(k) = unknown_key(obj, allowed) {
            return Err(OpParseError::UnknownField(k.to_owned()));
        }
        let sig = req_str(obj, "sig")?.to_owned();
        let prev = parse_prev(obj)?;
        let op = match ty {
            TYPE_OPERATION => Operation::Regular {
                fields: parse_fields(obj)?,
                prev,
            },
            TYPE_TOMBSTONE => Operation::Tombstone {
                prev: prev.ok_or(OpParseError::NullPrev)?,
            },
            _ => {
                if prev.is_some() {
                    return Err(OpParseError::LegacyWithPrev);
                }
                Operation::LegacyCreate(LegacyCreate {
                    signing_key: req_str(obj, "signingKey")?.to_owned(),
                    recovery_key: req_str(obj, "recoveryKey")?.to_owned(),
                    handle: req_str(obj, "handle")?.to_owned(),
                    service: req_str(obj, "service")?.to_owned(),
                })
            }
        };
        Ok(SignedOperation { op, sig })
    }
}

/// Why a JSON value is not a well-formed signed PLC operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpParseError {
    /// The operation is not a JSON object.
    #[error("operation must be a JSON object")]
    NotObject,
    /// `type` is not `plc_operation`, `plc_tombstone` or `create`.
    #[error("unknown operation type {0:?}")]
    UnknownType(String),
    /// A required field is absent (`prev` must be present even when `null`).
    #[error("operation is missing field {0:?}")]
    MissingField(&'static str),
    /// A field has the wrong JSON type.
    #[error("operation field {field:?} must be {expected}")]
    WrongType {
        /// The field.
        field: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// A field that this operation type does not have.
    #[error("operation has unexpected field {0:?}")]
    UnknownField(String),
    /// `prev` is not the canonical string of a CIDv1 dag-cbor sha2-256.
    #[error("operation prev {0:?} is not a base32 CIDv1 dag-cbor sha2-256 string")]
    InvalidPrev(String),
    /// A tombstone with `prev: null`.
    #[error("a tombstone must have a non-null prev")]
    NullPrev,
    /// A legacy `create` whose `prev` is not `null`.
    #[error("a legacy create operation must have prev: null")]
    LegacyWithPrev,
}

impl From<FieldError> for OpParseError {
    fn from(e: FieldError) -> Self {
        match e {
            FieldError::Missing(f) => OpParseError::MissingField(f),
            FieldError::WrongType { field, expected } => {
                OpParseError::WrongType { field, expected }
            }
        }
    }
}

/// Why a signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// `sig` is not strict unpadded base64url: padding characters, whitespace or newlines, a
    /// character outside the alphabet, or non-zero trailing bits.
    #[error("signature is not canonical unpadded base64url")]
    Encoding,
    /// `sig` does not decode to 64 bytes.
    #[error("signature must decode to 64 bytes (compact r||s), got {0}")]
    Length(usize),
    /// The signature is high-S for every key of its curve.
    #[error("high-S signature rejected")]
    HighS,
    /// No allowed key verifies the signature.
    #[error("no allowed rotation key verifies the signature")]
    NoMatchingKey,
    /// There are no keys to verify against (e.g. after a tombstone, or `rotationKeys: []`).
    #[error("there are no rotation keys to verify the signature against")]
    NoKeys,
}

/// Decodes a `sig` string strictly (see [`SignedOperation::signature_bytes`]).
pub fn decode_sig(sig: &str) -> Result<[u8; 64], SignatureError> {
    // URL_SAFE_NO_PAD rejects `=`, any byte outside the alphabet (so `\n` and `\r`), and
    // non-zero trailing bits.
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| SignatureError::Encoding)?;
    <[u8; 64]>::try_from(bytes.as_slice()).map_err(|_| SignatureError::Length(bytes.len()))
}

/// `did:plc:` + the first 24 characters of lowercase base32 (no padding) of sha256(`signed_cbor`).
pub fn did_for_signed_genesis(signed_cbor: &[u8]) -> Did {
    let digest = crypto::sha256(signed_cbor);
    let b32 = data_encoding::BASE32_NOPAD.encode(&digest);
    let did = format!("did:plc:{}", b32[..24].to_ascii_lowercase());
    // 24 characters of [a-z2-7] after `did:plc:` are always a valid DID; not input-dependent.
    Did::try_from(did).expect("did:plc + 24 base32 characters is a valid DID")
}

/// True if `did` has the did:plc shape: `did:plc:` + 24 characters of lowercase base32.
pub fn is_plc_did(did: &Did) -> bool {
    did.method() == "plc"
        && did.identifier().len() == 24
        && did
            .identifier()
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'2'..=b'7'))
}

fn parse_prev(obj: &Map<String, Json>) -> Result<Option<Cid>, OpParseError> {
    match obj.get("prev") {
        None => Err(OpParseError::MissingField("prev")),
        Some(Json::Null) => Ok(None),
        Some(Json::String(s)) => parse_prev_cid(s).map(Some),
        Some(_) => Err(OpParseError::WrongType {
            field: "prev",
            expected: "string or null",
        }),
    }
}

/// Parses a `prev` string, accepting only the canonical form we would write ourselves.
fn parse_prev_cid(s: &str) -> Result<Cid, OpParseError> {
    let invalid = || OpParseError::InvalidPrev(s.to_owned());
    let cid = data_model::parse_cid(s).map_err(|_| invalid())?;
    if cid.codec() != CODEC_DAG_CBOR
        || cid.hash().code() != HASH_SHA2_256
        || cid.hash().size() != 32
        || cid.to_string() != s
    {
        return Err(invalid());
    }
    Ok(cid)
}

fn parse_fields(obj: &Map<String, Json>) -> Result<PlcFields, OpParseError> {
    let services_json = match obj.get("services") {
        None => return Err(OpParseError::MissingField("services")),
        Some(Json::Object(m)) => m,
        Some(_) => {
            return Err(OpParseError::WrongType {
                field: "services",
                expected: "object",
            });
        }
    };
    let bad_service = OpParseError::WrongType {
        field: "services",
        expected: "object of {type, endpoint} string objects",
    };
    let mut services = BTreeMap::new();
    for (id, entry) in services_json {
        let entry = entry.as_object().ok_or(bad_service.clone())?;
        if unknown_key(entry, &["type", "endpoint"]).is_some() {
            return Err(bad_service);
        }
        let service_type = req_str(entry, "type").map_err(|_| bad_service.clone())?;
        let endpoint = req_str(entry, "endpoint").map_err(|_| bad_service.clone())?;
        services.insert(
            id.clone(),
            PlcService {
                service_type: service_type.to_owned(),
                endpoint: endpoint.to_owned(),
            },
        );
    }
    Ok(PlcFields {
        rotation_keys: req_str_array(obj, "rotationKeys")?,
        verification_methods: req_str_map(obj, "verificationMethods")?,
        also_known_as: req_str_array(obj, "alsoKnownAs")?,
        services,
    })
}

/// The first `at://` entry that holds a valid handle.
pub(crate) fn first_at_handle(aliases: &[String]) -> Option<Handle> {
    aliases
        .iter()
        .filter_map(|a| a.strip_prefix("at://"))
        .find_map(|h| Handle::try_from(h).ok())
}

fn ensure_http_prefix(s: &str) -> String {
    if s.starts_with("http://") || s.starts_with("https://") {
        s.to_owned()
    } else {
        format!("https://{s}")
    }
}

fn ensure_at_prefix(s: &str) -> String {
    if s.starts_with("at://") {
        return s.to_owned();
    }
    let bare = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    format!("at://{bare}")
}

fn string(s: &str) -> Value {
    Value::String(s.to_owned())
}
