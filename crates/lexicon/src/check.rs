//! Structural checks on a parsed [`LexiconDoc`]: the rules serde's shape alone cannot express.
//!
//! - version `1`; definition names non-empty, without `#` or `.`;
//! - primary types (`record`, `query`, `procedure`, `subscription`, `permission-set`) only as
//!   `main`; `ref`, `union`, `unknown`, `params` and `permission` never as named definitions;
//! - where each type may appear: object properties and array items hold data types only;
//!   parameters hold `boolean`, `integer`, `string`, `unknown` or arrays of those; bodies hold
//!   an object, ref or union; a subscription message is a union;
//! - `required` / `nullable` name existing properties; minimums do not exceed maximums;
//! - refs are `#def`, `nsid`, or `nsid#def` with a valid NSID; blob `accept` entries are MIME
//!   patterns (`type/subtype`, `type/*`, `*/*`); `maxSize` is positive.
//!
//! References are not resolved here (another document may define them): see [`crate::Catalog`].

use crate::schema::{Def, LexiconDoc, ObjectDef, ParamsDef};
use crate::{SchemaError, SchemaProblem};

/// Runs every structural check on `doc`.
pub(crate) fn check_doc(doc: &LexiconDoc) -> Result<(), SchemaError> {
    if doc.lexicon != 1 {
        return Err(SchemaError::Version(doc.lexicon));
    }
    let mut path = String::from("defs");
    for (name, def) in &doc.defs {
        let len = path.len();
        path.push('/');
        path.push_str(name);
        if name.is_empty() || name.contains('#') || name.contains('.') {
            return Err(invalid(&path, SchemaProblem::BadDefName(name.clone())));
        }
        if def.is_primary() && name != "main" {
            return Err(invalid(
                &path,
                SchemaProblem::PrimaryNotMain(def.type_name()),
            ));
        }
        if matches!(
            def,
            Def::Ref(_) | Def::Union(_) | Def::Unknown(_) | Def::Params(_) | Def::Permission(_)
        ) {
            return Err(invalid(
                &path,
                SchemaProblem::NotAllowed {
                    type_name: def.type_name(),
                    place: "a named definition",
                },
            ));
        }
        check_def(def, &mut path)?;
        path.truncate(len);
    }
    Ok(())
}

fn invalid(path: &str, problem: SchemaProblem) -> SchemaError {
    SchemaError::Invalid {
        path: path.to_owned(),
        problem,
    }
}

/// Runs `f` with `seg` appended to `path`, then restores `path`.
fn nested<T>(
    path: &mut String,
    seg: &str,
    f: impl FnOnce(&mut String) -> Result<T, SchemaError>,
) -> Result<T, SchemaError> {
    let len = path.len();
    path.push('/');
    path.push_str(seg);
    let out = f(path)?;
    path.truncate(len);
    Ok(out)
}

fn check_def(def: &Def, path: &mut String) -> Result<(), SchemaError> {
    match def {
        Def::Record(r) => nested(path, "record", |p| check_object(&r.record, p)),
        Def::Query(q) => {
            if let Some(params) = &q.parameters {
                nested(path, "parameters", |p| check_params(params, p))?;
            }
            if let Some(body) = &q.output {
                nested(path, "output", |p| check_body(body.schema.as_deref(), p))?;
            }
            Ok(())
        }
        Def::Procedure(q) => {
            if let Some(params) = &q.parameters {
                nested(path, "parameters", |p| check_params(params, p))?;
            }
            if let Some(body) = &q.input {
                nested(path, "input", |p| check_body(body.schema.as_deref(), p))?;
            }
            if let Some(body) = &q.output {
                nested(path, "output", |p| check_body(body.schema.as_deref(), p))?;
            }
            Ok(())
        }
        Def::Subscription(s) => {
            if let Some(params) = &s.parameters {
                nested(path, "parameters", |p| check_params(params, p))?;
            }
            if let Some(message) = &s.message {
                nested(path, "message/schema", |p| {
                    if !matches!(*message.schema, Def::Union(_)) {
                        return Err(invalid(
                            p,
                            SchemaProblem::NotAllowed {
                                type_name: message.schema.type_name(),
                                place: "a subscription message (must be a union)",
                            },
                        ));
                    }
                    check_def(&message.schema, p)
                })?;
            }
            Ok(())
        }
        Def::PermissionSet(set) => {
            for (i, perm) in set.permissions.iter().enumerate() {
                if !matches!(perm, Def::Permission(_)) {
                    return nested(path, &format!("permissions/{i}"), |p| {
                        Err(invalid(
                            p,
                            SchemaProblem::NotAllowed {
                                type_name: perm.type_name(),
                                place: "a permission set",
                            },
                        ))
                    });
                }
            }
            Ok(())
        }
        Def::Permission(_) | Def::Params(_) => Ok(()),
        Def::Object(o) => check_object(o, path),
        Def::Array(a) => {
            check_min_max(a.min_length, a.max_length, path)?;
            nested(path, "items", |p| check_field(&a.items, p))
        }
        Def::String(s) => {
            check_min_max(s.min_length, s.max_length, path)?;
            check_min_max(s.min_graphemes, s.max_graphemes, path)
        }
        Def::Integer(i) => match (i.minimum, i.maximum) {
            (Some(min), Some(max)) if min > max => Err(invalid(path, SchemaProblem::MinAboveMax)),
            _ => Ok(()),
        },
        Def::Bytes(b) => check_min_max(b.min_length, b.max_length, path),
        Def::Blob(b) => {
            if b.max_size == Some(0) {
                return Err(invalid(path, SchemaProblem::ZeroMaxSize));
            }
            for pattern in b.accept.iter().flatten() {
                if !is_mime_pattern(pattern) {
                    return Err(invalid(
                        path,
                        SchemaProblem::BadMimePattern(pattern.clone()),
                    ));
                }
            }
            Ok(())
        }
        Def::Union(u) => {
            for r in &u.refs {
                check_ref(r, path)?;
            }
            Ok(())
        }
        Def::Ref(r) => check_ref(&r.target, path),
        Def::Boolean(_) | Def::CidLink(_) | Def::Unknown(_) | Def::Token(_) => Ok(()),
    }
}

/// A type that can describe a value inside data: an object property or array item.
fn check_field(def: &Def, path: &mut String) -> Result<(), SchemaError> {
    if def.is_primary() || matches!(def, Def::Params(_) | Def::Permission(_) | Def::Token(_)) {
        return Err(invalid(
            path,
            SchemaProblem::NotAllowed {
                type_name: def.type_name(),
                place: "a data field",
            },
        ));
    }
    check_def(def, path)
}

fn check_object(o: &ObjectDef, path: &mut String) -> Result<(), SchemaError> {
    for name in &o.required {
        if o.property(name).is_none() {
            return Err(invalid(
                path,
                SchemaProblem::RequiredNotAProperty(name.clone()),
            ));
        }
    }
    for name in &o.nullable {
        if o.property(name).is_none() {
            return Err(invalid(
                path,
                SchemaProblem::NullableNotAProperty(name.clone()),
            ));
        }
    }
    for (name, def) in &o.properties {
        nested(path, &format!("properties/{name}"), |p| {
            if name.is_empty() {
                return Err(invalid(p, SchemaProblem::EmptyPropertyName));
            }
            check_field(def, p)
        })?;
    }
    Ok(())
}

fn check_params(params: &ParamsDef, path: &mut String) -> Result<(), SchemaError> {
    for name in &params.required {
        if !params.properties.iter().any(|(n, _)| n == name) {
            return Err(invalid(
                path,
                SchemaProblem::RequiredNotAProperty(name.clone()),
            ));
        }
    }
    fn scalar(def: &Def) -> bool {
        matches!(
            def,
            Def::Boolean(_) | Def::Integer(_) | Def::String(_) | Def::Unknown(_)
        )
    }
    for (name, def) in &params.properties {
        nested(path, &format!("properties/{name}"), |p| {
            let ok = match def {
                Def::Array(a) => scalar(&a.items),
                other => scalar(other),
            };
            if !ok {
                return Err(invalid(
                    p,
                    SchemaProblem::NotAllowed {
                        type_name: def.type_name(),
                        place: "query parameters (boolean, integer, string, unknown or an array of those)",
                    },
                ));
            }
            check_def(def, p)
        })?;
    }
    Ok(())
}

fn check_body(schema: Option<&Def>, path: &mut String) -> Result<(), SchemaError> {
    let Some(schema) = schema else {
        return Ok(());
    };
    nested(path, "schema", |p| {
        if !matches!(schema, Def::Object(_) | Def::Ref(_) | Def::Union(_)) {
            return Err(invalid(
                p,
                SchemaProblem::NotAllowed {
                    type_name: schema.type_name(),
                    place: "a body schema (object, ref or union)",
                },
            ));
        }
        check_def(schema, p)
    })
}

fn check_min_max(min: Option<u64>, max: Option<u64>, path: &str) -> Result<(), SchemaError> {
    match (min, max) {
        (Some(min), Some(max)) if min > max => Err(invalid(path, SchemaProblem::MinAboveMax)),
        _ => Ok(()),
    }
}

/// `#def`, `nsid` or `nsid#def`.
fn check_ref(r: &str, path: &str) -> Result<(), SchemaError> {
    let bad = || invalid(path, SchemaProblem::BadRef(r.to_owned()));
    let (nsid, frag) = match r.split_once('#') {
        Some((nsid, frag)) => (nsid, Some(frag)),
        None => (r, None),
    };
    if let Some(frag) = frag
        && (frag.is_empty() || frag.contains('#') || frag.contains('.'))
    {
        return Err(bad());
    }
    if nsid.is_empty() {
        return if frag.is_some() { Ok(()) } else { Err(bad()) };
    }
    nsid.parse::<syntax::Nsid>().map_err(|_| bad())?;
    Ok(())
}

/// `type/subtype`, `type/*` or `*/*`, with no whitespace or parameters.
pub(crate) fn is_mime_pattern(p: &str) -> bool {
    let Some((ty, sub)) = p.split_once('/') else {
        return false;
    };
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+*".contains(&b))
    };
    token(ty) && token(sub) && (ty != "*" || sub == "*") && !sub.contains('/')
}
