//! DID documents: rendering one from PLC state (what a PLC directory serves at `GET /<did>`, and
//! what we serve for a did:web), and reading the atproto parts out of any DID document
//! (checklist #114).
//!
//! Rendering follows the reference library (`packages/lib/src/document.ts`, which is what
//! plc.directory serves) rather than the spec's hand-written example, where they differ:
//! - `@context` is `did/v1` + `multikey/v1`, plus the suite context of each recognised key
//!   (`ecdsa-2019` for P-256, `secp256k1-2019` for K-256);
//! - verification-method ids are absolute (`did:plc:…#atproto`), service ids relative
//!   (`#atproto_pds`);
//! - `publicKeyMultibase` is the `did:key` without its `did:key:` prefix.
//!
//! Reading is lenient about what atproto does not use (extra fields, other key and service types,
//! malformed entries in the arrays are skipped) and strict about what it does:
//! - the signing key is the first verification method whose id is `#atproto` or `<did>#atproto`,
//!   whose controller is the DID and whose type is `Multikey` (or one of the legacy
//!   `EcdsaSecp256k1VerificationKey2019` / `EcdsaSecp256r1VerificationKey2019` types, whose
//!   `publicKeyMultibase` is a bare SEC1 point without multicodec);
//! - the PDS is the first service whose id is `#atproto_pds` or `<did>#atproto_pds` and whose
//!   type is `AtprotoPersonalDataServer`; its endpoint must be an http(s) origin;
//! - the handle is the first `alsoKnownAs` entry that is `at://` + a syntactically valid handle.

use crypto::{CryptoError, Curve, PublicKey};
use serde_json::{Map, Value as Json, json};
use syntax::{Did, DidError, Handle};

use crate::log::PlcState;
use crate::operation::{
    ATPROTO_PDS_SERVICE, ATPROTO_PDS_TYPE, ATPROTO_VERIFICATION_METHOD, PlcFields, first_at_handle,
};

/// The W3C DID core context.
pub const CONTEXT_DID_V1: &str = "https://www.w3.org/ns/did/v1";
/// The Multikey context.
pub const CONTEXT_MULTIKEY_V1: &str = "https://w3id.org/security/multikey/v1";
/// The suite context added for P-256 keys.
pub const CONTEXT_P256: &str = "https://w3id.org/security/suites/ecdsa-2019/v1";
/// The suite context added for K-256 keys.
pub const CONTEXT_K256: &str = "https://w3id.org/security/suites/secp256k1-2019/v1";
/// The verification-method type atproto uses.
pub const MULTIKEY_TYPE: &str = "Multikey";

/// A verification method of a DID document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationMethod {
    /// `id`, absolute (`did:…#atproto`) or relative (`#atproto`).
    pub id: String,
    /// `type`, e.g. `Multikey`.
    pub method_type: String,
    /// `controller`, normally the DID itself.
    pub controller: String,
    /// `publicKeyMultibase`, if the method has one.
    pub public_key_multibase: Option<String>,
}

/// A service of a DID document (only services with a string `serviceEndpoint` are kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocService {
    /// `id`, absolute or relative (`#atproto_pds`).
    pub id: String,
    /// `type`, e.g. `AtprotoPersonalDataServer`.
    pub service_type: String,
    /// `serviceEndpoint`.
    pub service_endpoint: String,
}

/// A DID document, reduced to the members atproto uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DidDocument {
    /// `@context` entries (string entries only).
    pub context: Vec<String>,
    /// `id`: the DID.
    pub id: Did,
    /// `alsoKnownAs`.
    pub also_known_as: Vec<String>,
    /// `verificationMethod`.
    pub verification_method: Vec<VerificationMethod>,
    /// `service`.
    pub service: Vec<DocService>,
}

/// Why a DID document, or the atproto data in it, is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DidDocError {
    /// The document is not a JSON object.
    #[error("DID document must be a JSON object")]
    NotObject,
    /// `id` is missing or not a string.
    #[error("DID document has no string id")]
    MissingId,
    /// `id` is not a valid DID.
    #[error("DID document id is not a valid DID: {0}")]
    InvalidId(#[from] DidError),
    /// A member has the wrong JSON type (e.g. `alsoKnownAs` is not an array).
    #[error("DID document member {0:?} has the wrong type")]
    WrongType(&'static str),
    /// The document is for another DID.
    #[error("DID document is for {found}, expected {expected}")]
    IdMismatch {
        /// The DID that was resolved.
        expected: Did,
        /// The document's `id`.
        found: Did,
    },
    /// No `#atproto` verification method of a supported type controlled by the DID.
    #[error("DID document has no atproto signing key")]
    NoSigningKey,
    /// The `#atproto` verification method's key does not parse.
    #[error("DID document atproto signing key is invalid: {0}")]
    InvalidSigningKey(CryptoError),
    /// No `#atproto_pds` service of type `AtprotoPersonalDataServer`.
    #[error("DID document has no atproto PDS service")]
    NoPds,
    /// The PDS endpoint is not an http(s) origin.
    #[error("DID document PDS endpoint {0:?} is not an http(s) origin")]
    InvalidPdsEndpoint(String),
}

impl DidDocument {
    /// Renders the document a PLC directory serves for `state` (see the module docs).
    pub fn from_plc(state: &PlcState) -> DidDocument {
        DidDocument::from_fields(&state.did, &state.fields)
    }

    /// The document of a standard atproto account: `alsoKnownAs` = `at://<handle>` (if any),
    /// one `#atproto` Multikey, one `#atproto_pds` service. Use it for a did:web document we
    /// serve; for a did:plc it gives the same shape the directory renders.
    pub fn atproto(
        did: &Did,
        handle: Option<&Handle>,
        signing_key: &PublicKey,
        pds_endpoint: &str,
    ) -> DidDocument {
        let mut fields = PlcFields::default();
        fields.set_atproto_signing_key(signing_key);
        if let Some(h) = handle {
            fields.set_handle(h);
        }
        fields.set_pds_endpoint(pds_endpoint);
        DidDocument::from_fields(did, &fields)
    }

    fn from_fields(did: &Did, fields: &PlcFields) -> DidDocument {
        let mut context = vec![CONTEXT_DID_V1.to_owned(), CONTEXT_MULTIKEY_V1.to_owned()];
        let mut verification_method = Vec::new();
        for (id, key) in &fields.verification_methods {
            let suite = PublicKey::from_did_key(key).ok().map(|k| match k.curve() {
                Curve::P256 => CONTEXT_P256,
                Curve::K256 => CONTEXT_K256,
            });
            if let Some(suite) = suite
                && !context.iter().any(|c| c == suite)
            {
                context.push(suite.to_owned());
            }
            verification_method.push(VerificationMethod {
                id: format!("{did}#{id}"),
                method_type: MULTIKEY_TYPE.to_owned(),
                controller: did.as_str().to_owned(),
                public_key_multibase: Some(key.strip_prefix("did:key:").unwrap_or(key).to_owned()),
            });
        }
        let service = fields
            .services
            .iter()
            .map(|(id, s)| DocService {
                id: format!("#{id}"),
                service_type: s.service_type.clone(),
                service_endpoint: s.endpoint.clone(),
            })
            .collect();
        DidDocument {
            context,
            id: did.clone(),
            also_known_as: fields.also_known_as.clone(),
            verification_method,
            service,
        }
    }

    /// The document as JSON: `@context`, `id`, `alsoKnownAs`, `verificationMethod`, `service`.
    pub fn to_json(&self) -> Json {
        let methods: Vec<Json> = self
            .verification_method
            .iter()
            .map(|m| {
                let mut obj = Map::new();
                obj.insert("id".into(), json!(m.id));
                obj.insert("type".into(), json!(m.method_type));
                obj.insert("controller".into(), json!(m.controller));
                if let Some(k) = &m.public_key_multibase {
                    obj.insert("publicKeyMultibase".into(), json!(k));
                }
                Json::Object(obj)
            })
            .collect();
        let services: Vec<Json> = self
            .service
            .iter()
            .map(|s| json!({"id": s.id, "type": s.service_type, "serviceEndpoint": s.service_endpoint}))
            .collect();
        json!({
            "@context": self.context,
            "id": self.id.as_str(),
            "alsoKnownAs": self.also_known_as,
            "verificationMethod": methods,
            "service": services,
        })
    }

    /// Reads a DID document (see the module docs for what is kept). Does not check `id` against
    /// the DID that was resolved; use [`Self::from_json_for`] for that.
    pub fn from_json(json: &Json) -> Result<DidDocument, DidDocError> {
        let obj = json.as_object().ok_or(DidDocError::NotObject)?;
        let id = obj
            .get("id")
            .and_then(Json::as_str)
            .ok_or(DidDocError::MissingId)?;
        let id = Did::try_from(id)?;
        let context = match obj.get("@context") {
            None => Vec::new(),
            Some(Json::String(s)) => vec![s.clone()],
            Some(Json::Array(items)) => items
                .iter()
                .filter_map(|c| c.as_str().map(str::to_owned))
                .collect(),
            // Context entries may be objects in JSON-LD; atproto does not read them.
            Some(_) => Vec::new(),
        };
        let also_known_as = array(obj, "alsoKnownAs")?
            .iter()
            .filter_map(|a| a.as_str().map(str::to_owned))
            .collect();
        let verification_method = array(obj, "verificationMethod")?
            .iter()
            .filter_map(|m| {
                let m = m.as_object()?;
                Some(VerificationMethod {
                    id: m.get("id")?.as_str()?.to_owned(),
                    method_type: m.get("type")?.as_str()?.to_owned(),
                    controller: m.get("controller")?.as_str()?.to_owned(),
                    public_key_multibase: m
                        .get("publicKeyMultibase")
                        .and_then(Json::as_str)
                        .map(str::to_owned),
                })
            })
            .collect();
        let service = array(obj, "service")?
            .iter()
            .filter_map(|s| {
                let s = s.as_object()?;
                Some(DocService {
                    id: s.get("id")?.as_str()?.to_owned(),
                    service_type: s.get("type")?.as_str()?.to_owned(),
                    service_endpoint: s.get("serviceEndpoint")?.as_str()?.to_owned(),
                })
            })
            .collect();
        Ok(DidDocument {
            context,
            id,
            also_known_as,
            verification_method,
            service,
        })
    }

    /// Reads a DID document resolved for `expected` and checks that its `id` is that DID.
    pub fn from_json_for(expected: &Did, json: &Json) -> Result<DidDocument, DidDocError> {
        let doc = DidDocument::from_json(json)?;
        if doc.id != *expected {
            return Err(DidDocError::IdMismatch {
                expected: expected.clone(),
                found: doc.id,
            });
        }
        Ok(doc)
    }

    /// The handle the document claims: the first `at://` alias that is a valid handle.
    pub fn handle(&self) -> Option<Handle> {
        first_at_handle(&self.also_known_as)
    }

    /// The atproto repo signing key (see the module docs for the selection rule).
    pub fn signing_key(&self) -> Result<PublicKey, DidDocError> {
        let method = self
            .verification_method
            .iter()
            .find(|m| {
                self.is_own_id(&m.id, ATPROTO_VERIFICATION_METHOD)
                    && m.controller == self.id.as_str()
                    && (m.method_type == MULTIKEY_TYPE
                        || Curve::from_legacy_did_doc_type(&m.method_type).is_some())
            })
            .ok_or(DidDocError::NoSigningKey)?;
        let multibase = method
            .public_key_multibase
            .as_deref()
            .ok_or(DidDocError::NoSigningKey)?;
        match Curve::from_legacy_did_doc_type(&method.method_type) {
            Some(curve) => PublicKey::from_legacy_multibase(curve, multibase),
            None => PublicKey::from_multikey(multibase),
        }
        .map_err(DidDocError::InvalidSigningKey)
    }

    /// The PDS endpoint (see the module docs for the selection rule), e.g.
    /// `https://pds.example.com`.
    pub fn pds_endpoint(&self) -> Result<&str, DidDocError> {
        let service = self
            .service
            .iter()
            .find(|s| {
                self.is_own_id(&s.id, ATPROTO_PDS_SERVICE) && s.service_type == ATPROTO_PDS_TYPE
            })
            .ok_or(DidDocError::NoPds)?;
        let endpoint = service.service_endpoint.as_str();
        if !is_http_origin(endpoint) {
            return Err(DidDocError::InvalidPdsEndpoint(endpoint.to_owned()));
        }
        Ok(endpoint)
    }

    /// True if `id` is `#<fragment>` or `<this DID>#<fragment>`.
    fn is_own_id(&self, id: &str, fragment: &str) -> bool {
        let Some((base, frag)) = id.split_once('#') else {
            return false;
        };
        frag == fragment && (base.is_empty() || base == self.id.as_str())
    }
}

/// An optional array member (absent counts as empty).
fn array<'a>(obj: &'a Map<String, Json>, key: &'static str) -> Result<&'a [Json], DidDocError> {
    match obj.get(key) {
        None => Ok(&[]),
        Some(Json::Array(items)) => Ok(items),
        Some(_) => Err(DidDocError::WrongType(key)),
    }
}

/// True for `http(s)://host[:port]` with an optional trailing `/`: no user info, path, query or
/// fragment.
pub fn is_http_origin(url: &str) -> bool {
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return false;
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    };
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'));
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n != 0));
    host_ok && port_ok
}
