//! [`Catalog`]: a set of lexicon documents compiled once into a flat graph for validation.
//!
//! Building a catalog parses and checks every document, then *compiles* each definition into
//! an arena of nodes (`Vec<Node>`) in which every `ref` and `union` variant points straight at
//! its target's node. Validation then walks that graph: no schema is re-parsed and no name is
//! looked up per value, except the one hash lookup of the collection and the compare of a
//! union's `$type` against its (few) variants.
//!
//! A reference to a definition no loaded document has is kept, not rejected: the interop
//! catalog refers to `app.bsky.*` without defining it. Such a ref fails validation of data that
//! reaches it, and [`Catalog::unresolved_refs`] lists them so a test can require there are none.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use data_model::Value;
use syntax::{Nsid, RecordKey};

use crate::schema::{
    BlobDef, BytesDef, Def, IntegerDef, LexiconDoc, ObjectDef, RecordKeyType, StringDef,
};
use crate::{LoadError, ValidationError};

/// Index of a node in [`Catalog::nodes`].
pub(crate) type NodeId = usize;

/// One compiled schema node.
#[derive(Debug)]
pub(crate) enum Node {
    Boolean {
        const_value: Option<bool>,
    },
    Integer(IntegerDef),
    String(StringDef),
    Bytes(BytesDef),
    CidLink,
    Blob(BlobDef),
    Array {
        items: NodeId,
        min_length: Option<u64>,
        max_length: Option<u64>,
    },
    Object(Vec<Property>),
    Ref(Link),
    Union {
        variants: Vec<Link>,
        closed: bool,
    },
    Unknown,
    /// A token; holds its full name (`nsid#name`).
    Token(String),
    /// A definition that describes no data (query, procedure, subscription, permission set).
    NotData(&'static str),
}

/// One property of a compiled object.
#[derive(Debug)]
pub(crate) struct Property {
    pub(crate) name: String,
    pub(crate) node: NodeId,
    pub(crate) required: bool,
    pub(crate) nullable: bool,
}

/// A reference by full name (`nsid` for `main`, else `nsid#name`) and its resolved node.
#[derive(Debug)]
pub(crate) struct Link {
    pub(crate) name: String,
    pub(crate) target: Option<NodeId>,
}

#[derive(Debug)]
struct RecordEntry {
    key: RecordKeyType,
    node: NodeId,
}

/// Lexicon documents compiled for validation. Build it once (at startup) with
/// [`Catalog::from_dir`] or [`Catalog::builder`], then share it; it is immutable.
#[derive(Debug)]
pub struct Catalog {
    docs: Vec<LexiconDoc>,
    doc_index: HashMap<String, usize>,
    pub(crate) nodes: Vec<Node>,
    records: HashMap<String, RecordEntry>,
}

impl Catalog {
    /// An empty builder.
    pub fn builder() -> CatalogBuilder {
        CatalogBuilder::default()
    }

    /// Loads every `*.json` file under `dir` (recursively) as a lexicon document.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Catalog, LoadError> {
        let mut b = Catalog::builder();
        b.add_dir(dir)?;
        Ok(b.build())
    }

    /// Number of documents.
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// True when the catalog has no documents.
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// Every document, in the order they were added.
    pub fn docs(&self) -> impl Iterator<Item = &LexiconDoc> {
        self.docs.iter()
    }

    /// The document with this NSID.
    pub fn doc(&self, id: &str) -> Option<&LexiconDoc> {
        self.doc_index.get(id).map(|&i| &self.docs[i])
    }

    /// True when the catalog has a record lexicon for `collection`, i.e. records of that
    /// collection can be validated (checklist #181: decides `validationStatus`).
    pub fn is_known_collection(&self, collection: &Nsid) -> bool {
        self.records.contains_key(collection.as_str())
    }

    /// The record-key rule of `collection`, if its lexicon is known (checklist #31).
    pub fn record_key_type(&self, collection: &Nsid) -> Option<&RecordKeyType> {
        self.records.get(collection.as_str()).map(|r| &r.key)
    }

    /// Validates a record of `collection` (checklist #13, #33, #182, #183): it must be an
    /// object whose `$type` is exactly `collection`, and match the record schema. Fields the
    /// schema does not name are allowed; open unions accept `$type`s they do not list.
    pub fn validate_record(&self, collection: &Nsid, value: &Value) -> Result<(), ValidationError> {
        match self.records.get(collection.as_str()) {
            Some(entry) => crate::validate::record(self, collection.as_str(), entry.node, value),
            None => Err(ValidationError::new(
                String::new(),
                crate::ValidationErrorKind::UnknownRecordType(collection.as_str().to_owned()),
            )),
        }
    }

    /// References (full names) that no loaded document defines, sorted and deduplicated.
    pub fn unresolved_refs(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for node in &self.nodes {
            let links: &[Link] = match node {
                Node::Ref(link) => std::slice::from_ref(link),
                Node::Union { variants, .. } => variants,
                _ => &[],
            };
            out.extend(
                links
                    .iter()
                    .filter(|l| l.target.is_none())
                    .map(|l| l.name.as_str()),
            );
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

impl RecordKeyType {
    /// Checks `rkey` against this rule (`specs/record-key`): `tid` needs a TID, `nsid` an
    /// NSID, `literal:x` exactly `x`; `any` takes every valid record key.
    pub fn check(&self, rkey: &RecordKey) -> Result<(), RecordKeyMismatch> {
        let ok = match self {
            RecordKeyType::Any => true,
            RecordKeyType::Tid => rkey.as_str().parse::<syntax::Tid>().is_ok(),
            RecordKeyType::Nsid => rkey.as_str().parse::<Nsid>().is_ok(),
            RecordKeyType::Literal(lit) => rkey.as_str() == lit,
        };
        if ok {
            Ok(())
        } else {
            Err(RecordKeyMismatch {
                key_type: self.clone(),
                rkey: rkey.as_str().to_owned(),
            })
        }
    }
}

/// A record key that the collection's lexicon does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("record key {rkey:?} does not match the collection's key type ({key_type})")]
pub struct RecordKeyMismatch {
    /// The rule.
    pub key_type: RecordKeyType,
    /// The rejected key.
    pub rkey: String,
}

/// Collects documents, then compiles them into a [`Catalog`].
#[derive(Default)]
pub struct CatalogBuilder {
    docs: Vec<(String, LexiconDoc)>,
    index: HashMap<String, usize>,
}

impl fmt::Debug for CatalogBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CatalogBuilder")
            .field("docs", &self.docs.len())
            .finish()
    }
}

impl CatalogBuilder {
    /// Adds a parsed document; `origin` names it in errors. The document is checked again
    /// (its fields are public, so it may not have come from a checking parser).
    pub fn add_doc(&mut self, origin: impl Into<String>, doc: LexiconDoc) -> Result<(), LoadError> {
        let origin = origin.into();
        if let Err(source) = crate::check::check_doc(&doc) {
            return Err(LoadError::Schema { origin, source });
        }
        let id = doc.id.as_str().to_owned();
        if let Some(&i) = self.index.get(&id) {
            return Err(LoadError::Duplicate {
                id,
                first: self.docs[i].0.clone(),
                second: origin,
            });
        }
        self.index.insert(id, self.docs.len());
        self.docs.push((origin, doc));
        Ok(())
    }

    /// Parses and adds one document from JSON text.
    pub fn add_json(&mut self, origin: impl Into<String>, text: &str) -> Result<(), LoadError> {
        let origin = origin.into();
        match LexiconDoc::from_json_str(text) {
            Ok(doc) => self.add_doc(origin, doc),
            Err(source) => Err(LoadError::Schema { origin, source }),
        }
    }

    /// Adds every `*.json` file under `dir`, recursively, in path order. Other files (README,
    /// licences) are skipped. Returns how many documents were added.
    pub fn add_dir(&mut self, dir: impl AsRef<Path>) -> Result<usize, LoadError> {
        let mut files = Vec::new();
        collect_json_files(dir.as_ref(), &mut files)?;
        files.sort();
        for path in &files {
            let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
                path: path.clone(),
                source,
            })?;
            self.add_json(path.display().to_string(), &text)?;
        }
        Ok(files.len())
    }

    /// Compiles the documents into a catalog.
    pub fn build(self) -> Catalog {
        let mut c = Compiler {
            nodes: Vec::new(),
            defs: HashMap::new(),
            records: HashMap::new(),
        };
        for (_, doc) in &self.docs {
            c.compile_doc(doc);
        }
        let Compiler {
            mut nodes,
            defs,
            records,
        } = c;
        for node in &mut nodes {
            match node {
                Node::Ref(link) => link.target = defs.get(&link.name).copied(),
                Node::Union { variants, .. } => {
                    for link in variants {
                        link.target = defs.get(&link.name).copied();
                    }
                }
                _ => {}
            }
        }
        Catalog {
            docs: self.docs.into_iter().map(|(_, d)| d).collect(),
            doc_index: self.index,
            nodes,
            records,
        }
    }
}

fn collect_json_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> Result<(), LoadError> {
    let io = |source| LoadError::Io {
        path: dir.to_owned(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let path = entry.path();
        if entry.file_type().map_err(io)?.is_dir() {
            collect_json_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    Ok(())
}

struct Compiler {
    nodes: Vec<Node>,
    /// Full name (`nsid` for `main`, else `nsid#name`) -> node.
    defs: HashMap<String, NodeId>,
    records: HashMap<String, RecordEntry>,
}

impl Compiler {
    fn push(&mut self, node: Node) -> NodeId {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    fn compile_doc(&mut self, doc: &LexiconDoc) {
        let base = doc.id.as_str();
        for (name, def) in &doc.defs {
            let full = if name == "main" {
                base.to_owned()
            } else {
                format!("{base}#{name}")
            };
            let node = match def {
                Def::Record(r) => {
                    let node = self.object(base, &r.record);
                    self.records.insert(
                        base.to_owned(),
                        RecordEntry {
                            key: r.key.clone(),
                            node,
                        },
                    );
                    node
                }
                Def::Token(_) => self.push(Node::Token(full.clone())),
                other => self.compile(base, other),
            };
            self.defs.insert(full, node);
        }
    }

    fn object(&mut self, base: &str, o: &ObjectDef) -> NodeId {
        let props = o
            .properties
            .iter()
            .map(|(name, def)| Property {
                name: name.clone(),
                node: self.compile(base, def),
                required: o.required.contains(name),
                nullable: o.nullable.contains(name),
            })
            .collect();
        self.push(Node::Object(props))
    }

    fn compile(&mut self, base: &str, def: &Def) -> NodeId {
        let node = match def {
            Def::Object(o) => return self.object(base, o),
            Def::Record(r) => return self.object(base, &r.record),
            Def::Array(a) => {
                let items = self.compile(base, &a.items);
                Node::Array {
                    items,
                    min_length: a.min_length,
                    max_length: a.max_length,
                }
            }
            Def::Boolean(b) => Node::Boolean {
                const_value: b.const_value,
            },
            Def::Integer(i) => Node::Integer(i.clone()),
            Def::String(s) => Node::String(s.clone()),
            Def::Bytes(b) => Node::Bytes(b.clone()),
            Def::CidLink(_) => Node::CidLink,
            Def::Blob(b) => Node::Blob(b.clone()),
            Def::Ref(r) => Node::Ref(link(base, &r.target)),
            Def::Union(u) => Node::Union {
                variants: u.refs.iter().map(|r| link(base, r)).collect(),
                closed: u.closed,
            },
            Def::Unknown(_) => Node::Unknown,
            // Only reachable for a token nested where a field belongs, which the checks refuse;
            // it then has no name of its own.
            Def::Token(_) => Node::Token(String::new()),
            Def::Query(_)
            | Def::Procedure(_)
            | Def::Subscription(_)
            | Def::PermissionSet(_)
            | Def::Permission(_)
            | Def::Params(_) => Node::NotData(def.type_name()),
        };
        self.push(node)
    }
}

/// The full name a reference written in document `base` points at.
fn link(base: &str, r: &str) -> Link {
    Link {
        name: full_name(base, r),
        target: None,
    }
}

/// `#x` -> `base#x`, `nsid#main` / `#main` -> `nsid` / `base`, anything else as written.
pub(crate) fn full_name(base: &str, r: &str) -> String {
    let r = r.strip_suffix("#main").unwrap_or(r);
    match r.strip_prefix('#') {
        Some(frag) => format!("{base}#{frag}"),
        None if r.is_empty() => base.to_owned(),
        None => r.to_owned(),
    }
}
