//! `com.atproto.repo.*` handlers: the writes (`createRecord`, `putRecord`, `deleteRecord`,
//! `applyWrites`, all through the one `pds` write path), the reads (`getRecord`,
//! `listRecords`, `describeRepo`) and `uploadBlob` (checklist #31, #34, #173, #181-#184, Q).

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use data_model::Cid;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use syntax::{AtIdentifier, Nsid, RecordKey};

use super::{
    RawBody, XrpcJson, XrpcQuery, double_option, parse, parse_opt, procedure, query,
    record_from_json, to_json,
};
use crate::auth::{Access, OptionalAccess};
use crate::error::ApiError;
use crate::server::AppState;

const P: &str = "/xrpc/com.atproto.repo.";

/// The `com.atproto.repo.*` routes with JSON bodies.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(&format!("{P}createRecord"), procedure(create_record))
        .route(&format!("{P}putRecord"), procedure(put_record))
        .route(&format!("{P}deleteRecord"), procedure(delete_record))
        .route(&format!("{P}applyWrites"), procedure(apply_writes))
        .route(&format!("{P}getRecord"), query(get_record))
        .route(&format!("{P}listRecords"), query(list_records))
        .route(&format!("{P}describeRepo"), query(describe_repo))
}

/// The routes that take blob-sized bodies.
pub(super) fn blob_routes() -> Router<AppState> {
    Router::new().route(&format!("{P}uploadBlob"), procedure(upload_blob))
}

fn commit_json(c: &pds::CommitRef) -> Value {
    json!({ "cid": c.cid.to_string(), "rev": c.rev.as_str() })
}

/// `Atproto-Repo-Rev`: the account's repo rev after this request (checklist #67).
const REPO_REV: HeaderName = HeaderName::from_static("atproto-repo-rev");

/// A write response: the JSON body with the new rev in `Atproto-Repo-Rev`.
fn with_rev(rev: &syntax::Tid, body: Value) -> Response {
    match HeaderValue::from_str(rev.as_str()) {
        Ok(v) => ([(REPO_REV, v)], Json(body)).into_response(),
        Err(_) => Json(body).into_response(),
    }
}

fn write_result_json(r: pds::RecordWriteResult) -> Response {
    let mut out = Map::new();
    out.insert("uri".into(), r.uri.as_str().into());
    out.insert("cid".into(), r.cid.to_string().into());
    out.insert("commit".into(), commit_json(&r.commit));
    if let Some(status) = r.validation_status {
        out.insert("validationStatus".into(), status.as_str().into());
    }
    with_rev(&r.commit.rev, Value::Object(out))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateRecordInput {
    repo: String,
    collection: String,
    rkey: Option<String>,
    validate: Option<bool>,
    record: Value,
    swap_commit: Option<String>,
}

async fn create_record(
    State(state): State<AppState>,
    Access(auth): Access,
    XrpcJson(input): XrpcJson<CreateRecordInput>,
) -> Result<Response, ApiError> {
    let repo: AtIdentifier = parse("repo", &input.repo)?;
    let collection: Nsid = parse("collection", &input.collection)?;
    let rkey = parse_opt::<RecordKey>("rkey", input.rkey.as_deref())?;
    let value = record_from_json(&input.record)?;
    let swap_commit = parse_opt::<Cid>("swapCommit", input.swap_commit.as_deref())?;
    let result = state
        .pds()
        .create_record(
            &auth,
            repo,
            collection,
            rkey,
            value,
            input.validate,
            swap_commit,
        )
        .await?;
    Ok(write_result_json(result))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PutRecordInput {
    repo: String,
    collection: String,
    rkey: String,
    validate: Option<bool>,
    record: Value,
    /// Absent: no check; `null`: the record must not exist; a CID: it must be that.
    #[serde(default, deserialize_with = "double_option")]
    swap_record: Option<Option<String>>,
    swap_commit: Option<String>,
}

async fn put_record(
    State(state): State<AppState>,
    Access(auth): Access,
    XrpcJson(input): XrpcJson<PutRecordInput>,
) -> Result<Response, ApiError> {
    let repo: AtIdentifier = parse("repo", &input.repo)?;
    let collection: Nsid = parse("collection", &input.collection)?;
    let rkey: RecordKey = parse("rkey", &input.rkey)?;
    let value = record_from_json(&input.record)?;
    let swap_record = match input.swap_record {
        None => None,
        Some(None) => Some(None),
        Some(Some(cid)) => Some(Some(parse::<Cid>("swapRecord", &cid)?)),
    };
    let swap_commit = parse_opt::<Cid>("swapCommit", input.swap_commit.as_deref())?;
    let result = state
        .pds()
        .put_record(
            &auth,
            repo,
            collection,
            rkey,
            value,
            input.validate,
            swap_record,
            swap_commit,
        )
        .await?;
    Ok(write_result_json(result))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeleteRecordInput {
    repo: String,
    collection: String,
    rkey: String,
    swap_record: Option<String>,
    swap_commit: Option<String>,
}

async fn delete_record(
    State(state): State<AppState>,
    Access(auth): Access,
    XrpcJson(input): XrpcJson<DeleteRecordInput>,
) -> Result<Response, ApiError> {
    let repo: AtIdentifier = parse("repo", &input.repo)?;
    let collection: Nsid = parse("collection", &input.collection)?;
    let rkey: RecordKey = parse("rkey", &input.rkey)?;
    let swap_record = parse_opt::<Cid>("swapRecord", input.swap_record.as_deref())?;
    let swap_commit = parse_opt::<Cid>("swapCommit", input.swap_commit.as_deref())?;
    let commit = state
        .pds()
        .delete_record(&auth, repo, collection, rkey, swap_record, swap_commit)
        .await?;
    Ok(match commit {
        Some(c) => with_rev(&c.rev, json!({ "commit": commit_json(&c) })),
        None => Json(json!({})).into_response(),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApplyWritesInput {
    repo: String,
    validate: Option<bool>,
    writes: Vec<Value>,
    swap_commit: Option<String>,
}

#[derive(Deserialize)]
struct WriteInput {
    #[serde(rename = "$type")]
    kind: String,
    collection: String,
    rkey: Option<String>,
    value: Option<Value>,
}

const CREATE: &str = "com.atproto.repo.applyWrites#create";
const UPDATE: &str = "com.atproto.repo.applyWrites#update";
const DELETE: &str = "com.atproto.repo.applyWrites#delete";

fn parse_write(i: usize, json: Value) -> Result<pds::Write, ApiError> {
    let w: WriteInput = serde_json::from_value(json)
        .map_err(|e| ApiError::invalid_request(format!("Invalid writes[{i}]: {e}")))?;
    let collection: Nsid = parse("collection", &w.collection)?;
    let rkey = parse_opt::<RecordKey>("rkey", w.rkey.as_deref())?;
    let missing =
        |field: &str| ApiError::invalid_request(format!("writes[{i}] is missing {field}"));
    let value = |v: Option<Value>| -> Result<data_model::Value, ApiError> {
        record_from_json(&v.ok_or_else(|| missing("value"))?)
    };
    Ok(match w.kind.as_str() {
        CREATE => pds::Write::Create {
            collection,
            rkey,
            value: value(w.value)?,
        },
        UPDATE => pds::Write::Update {
            collection,
            rkey: rkey.ok_or_else(|| missing("rkey"))?,
            value: value(w.value)?,
            swap_record: None,
        },
        DELETE => pds::Write::Delete {
            collection,
            rkey: rkey.ok_or_else(|| missing("rkey"))?,
            swap_record: None,
        },
        other => {
            return Err(ApiError::invalid_request(format!(
                "Invalid writes[{i}]: unknown $type {other:?}"
            )));
        }
    })
}

async fn apply_writes(
    State(state): State<AppState>,
    Access(auth): Access,
    XrpcJson(input): XrpcJson<ApplyWritesInput>,
) -> Result<Response, ApiError> {
    let repo: AtIdentifier = parse("repo", &input.repo)?;
    if input.writes.len() > pds::MAX_WRITES_PER_COMMIT {
        return Err(ApiError::invalid_request(format!(
            "Too many writes. Max: {}",
            pds::MAX_WRITES_PER_COMMIT
        )));
    }
    let writes = input
        .writes
        .into_iter()
        .enumerate()
        .map(|(i, w)| parse_write(i, w))
        .collect::<Result<Vec<_>, _>>()?;
    let swap_commit = parse_opt::<Cid>("swapCommit", input.swap_commit.as_deref())?;
    let result = state
        .pds()
        .apply_writes(
            &auth,
            pds::ApplyWrites {
                repo,
                validate: input.validate,
                writes,
                swap_commit,
            },
        )
        .await?;
    let results: Vec<Value> = result
        .results
        .into_iter()
        .map(|r| {
            let (kind, uri, cid, status) = match r {
                pds::WriteOutcome::Create {
                    uri,
                    cid,
                    validation_status,
                } => ("createResult", uri, cid, validation_status),
                pds::WriteOutcome::Update {
                    uri,
                    cid,
                    validation_status,
                } => ("updateResult", uri, cid, validation_status),
                pds::WriteOutcome::Delete => {
                    return json!({ "$type": "com.atproto.repo.applyWrites#deleteResult" });
                }
            };
            let mut out = Map::new();
            out.insert(
                "$type".into(),
                format!("com.atproto.repo.applyWrites#{kind}").into(),
            );
            out.insert("uri".into(), uri.as_str().into());
            out.insert("cid".into(), cid.to_string().into());
            if let Some(s) = status {
                out.insert("validationStatus".into(), s.as_str().into());
            }
            Value::Object(out)
        })
        .collect();
    Ok(with_rev(
        &result.commit.rev,
        json!({
            "commit": commit_json(&result.commit),
            "results": results,
        }),
    ))
}

fn record_json(r: &pds::RecordOutput) -> Value {
    json!({ "uri": r.uri.as_str(), "cid": r.cid.to_string(), "value": to_json(&r.value) })
}

#[derive(Deserialize)]
struct GetRecordParams {
    repo: String,
    collection: String,
    rkey: String,
    cid: Option<String>,
}

async fn get_record(
    State(state): State<AppState>,
    OptionalAccess(viewer): OptionalAccess,
    XrpcQuery(params): XrpcQuery<GetRecordParams>,
) -> Result<Json<Value>, ApiError> {
    let repo: AtIdentifier = parse("repo", &params.repo)?;
    let collection: Nsid = parse("collection", &params.collection)?;
    let rkey: RecordKey = parse("rkey", &params.rkey)?;
    let cid = parse_opt::<Cid>("cid", params.cid.as_deref())?;
    let record = state
        .pds()
        .get_record(&repo, &collection, &rkey, cid.as_ref(), viewer.as_ref())
        .await?;
    Ok(Json(record_json(&record)))
}

#[derive(Deserialize)]
struct ListRecordsParams {
    repo: String,
    collection: String,
    limit: Option<String>,
    cursor: Option<String>,
    reverse: Option<bool>,
}

async fn list_records(
    State(state): State<AppState>,
    OptionalAccess(viewer): OptionalAccess,
    XrpcQuery(params): XrpcQuery<ListRecordsParams>,
) -> Result<Json<Value>, ApiError> {
    let repo: AtIdentifier = parse("repo", &params.repo)?;
    let collection: Nsid = parse("collection", &params.collection)?;
    let limit = parse_limit(params.limit.as_deref(), 100)?;
    let page = state
        .pds()
        .list_records(
            &repo,
            &collection,
            limit,
            params.cursor.as_deref(),
            params.reverse.unwrap_or(false),
            viewer.as_ref(),
        )
        .await?;
    let records: Vec<Value> = page.records.iter().map(record_json).collect();
    let mut out = Map::new();
    if let Some(cursor) = page.cursor {
        out.insert("cursor".into(), cursor.into());
    }
    out.insert("records".into(), records.into());
    Ok(Json(Value::Object(out)))
}

/// A `limit` parameter: an integer from 1 to `max` (the lexicon's bounds).
pub(super) fn parse_limit(limit: Option<&str>, max: u32) -> Result<Option<u32>, ApiError> {
    let Some(limit) = parse_opt::<u32>("limit", limit)? else {
        return Ok(None);
    };
    if !(1..=max).contains(&limit) {
        return Err(ApiError::invalid_request(format!(
            "limit must be between 1 and {max}"
        )));
    }
    Ok(Some(limit))
}

#[derive(Deserialize)]
struct DescribeRepoParams {
    repo: String,
}

async fn describe_repo(
    State(state): State<AppState>,
    XrpcQuery(params): XrpcQuery<DescribeRepoParams>,
) -> Result<Json<Value>, ApiError> {
    let repo: AtIdentifier = parse("repo", &params.repo)?;
    let d = state.pds().describe_repo(&repo).await?;
    let collections: Vec<&str> = d.collections.iter().map(Nsid::as_str).collect();
    Ok(Json(json!({
        "handle": d.handle.as_str(),
        "did": d.did.as_str(),
        "didDoc": d.did_doc.unwrap_or_else(|| json!({})),
        "collections": collections,
        "handleIsCorrect": d.handle_is_correct,
    })))
}

async fn upload_blob(
    State(state): State<AppState>,
    Access(auth): Access,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Json<Value>, ApiError> {
    let declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v).trim().to_owned())
        .filter(|v| !v.is_empty());
    let blob = state
        .pds()
        .upload_blob(&auth, declared.as_deref(), body)
        .await?;
    Ok(Json(
        json!({ "blob": to_json(&blob.to_blob_ref().to_value()) }),
    ))
}
