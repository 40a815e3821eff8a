//! Blob use cases (checklist Q, #63-#65, #173): upload to the object store as a *temporary*
//! blob (size limit, MIME type sniffed from the content and preferred over the declared one),
//! serve and list only blobs a record references, delete the bytes of blobs that lose their
//! last reference, and collect temporary blobs nobody referenced.
//!
//! Bytes live in the object store at `blobs/<did>/<cid>` (content addressed, so a re-upload
//! rewrites identical bytes); metadata and reference counting live in the
//! [`BlobMetaStore`](crate::ports::BlobMetaStore).

use std::time::Duration;

use bytes::Bytes;
use data_model::{BlobRef, Cid};
use object_store::ObjectStoreExt;
use object_store::path::Path;
use syntax::{Did, Tid};

use crate::error::{Error, ErrorKind, Result};
use crate::jwt::AuthContext;
use crate::ports::BlobRow;
use crate::{Pds, now_ms};

/// Temporary blobs younger than this are never collected (the spec's 1-hour floor).
pub(crate) const MIN_TEMP_BLOB_AGE: Duration = Duration::from_secs(60 * 60);

/// `uploadBlob` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedBlob {
    /// Raw-codec CID of the bytes.
    pub cid: Cid,
    /// The MIME type (sniffed when recognisable, else the declared one).
    pub mime_type: String,
    /// Size in bytes.
    pub size: u64,
}

impl UploadedBlob {
    /// The blob ref for the response (`{$type: blob, ref, mimeType, size}`).
    pub fn to_blob_ref(&self) -> BlobRef {
        BlobRef {
            cid: self.cid,
            mime_type: self.mime_type.clone(),
            size: Some(i64::try_from(self.size).unwrap_or(i64::MAX)),
            legacy: false,
        }
    }
}

/// `sync.getBlob` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobData {
    /// MIME type (for `Content-Type`).
    pub mime_type: String,
    /// Size in bytes.
    pub size: u64,
    /// The bytes.
    pub bytes: Bytes,
}

/// `sync.listBlobs` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListBlobs {
    /// The page of CIDs.
    pub cids: Vec<Cid>,
    /// Present when there may be more.
    pub cursor: Option<String>,
}

fn blob_path(did: &Did, cid: &Cid) -> Path {
    Path::from_iter(["blobs", did.as_str(), &cid.to_string()])
}

/// The MIME type the content's magic bytes show, if recognisable.
pub(crate) fn sniff_mime(b: &[u8]) -> Option<&'static str> {
    let starts = |p: &[u8]| b.starts_with(p);
    if starts(b"\x89PNG\r\n\x1a\n") {
        return Some("image/png");
    }
    if starts(b"\xff\xd8\xff") {
        return Some("image/jpeg");
    }
    if starts(b"GIF87a") || starts(b"GIF89a") {
        return Some("image/gif");
    }
    if b.len() >= 12 && &b[0..4] == b"RIFF" && &b[8..12] == b"WEBP" {
        return Some("image/webp");
    }
    if starts(b"\x1a\x45\xdf\xa3") {
        return Some("video/webm");
    }
    if starts(b"%PDF-") {
        return Some("application/pdf");
    }
    if b.len() >= 12 && &b[4..8] == b"ftyp" {
        return Some(match &b[8..12] {
            b"avif" | b"avis" => "image/avif",
            b"heic" | b"heix" | b"mif1" => "image/heic",
            b"qt  " => "video/quicktime",
            _ => "video/mp4",
        });
    }
    None
}

/// A declared MIME type worth keeping: `type/subtype`, printable, no wildcards.
fn usable_declared(m: &str) -> Option<String> {
    let m = m
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let (t, s) = m.split_once('/')?;
    let ok = |x: &str| {
        !x.is_empty()
            && x.bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&c))
    };
    (ok(t) && ok(s)).then_some(m)
}

impl Pds {
    /// `com.atproto.repo.uploadBlob`: stores `body` as a temporary blob of the caller.
    pub async fn upload_blob(
        &self,
        auth: &AuthContext,
        declared_mime: Option<&str>,
        body: Bytes,
    ) -> Result<UploadedBlob> {
        let row = self.account_row(&auth.did).await?;
        if row.takedown_ref.is_some() {
            return Err(Error::new(
                ErrorKind::AccountTakedown,
                "Account has been taken down",
            ));
        }
        let size = body.len() as u64;
        if size > self.config.blob_upload_limit {
            return Err(Error::new(
                ErrorKind::PayloadTooLarge,
                format!(
                    "Blob is larger than {} bytes",
                    self.config.blob_upload_limit
                ),
            ));
        }
        let mime_type = sniff_mime(&body)
            .map(str::to_owned)
            .or_else(|| declared_mime.and_then(usable_declared))
            .unwrap_or_else(|| "application/octet-stream".to_owned());
        let cid = data_model::cid_for_raw(&body);
        let path = blob_path(&auth.did, &cid);
        self.deps
            .blob_store
            .put(&path, body.into())
            .await
            .map_err(|e| Error::internal("writing blob bytes", e))?;
        self.deps
            .blobs
            .put_temp_blob(BlobRow {
                did: auth.did.clone(),
                cid,
                mime_type: mime_type.clone(),
                size: i64::try_from(size).unwrap_or(i64::MAX),
                temp: true,
                created_at: now_ms(),
            })
            .await?;
        Ok(UploadedBlob {
            cid,
            mime_type,
            size,
        })
    }

    /// `com.atproto.sync.getBlob`: only blobs a record references (temporary uploads are not
    /// served); inactive accounts' blobs only to their owner.
    pub async fn get_blob(
        &self,
        did: &Did,
        cid: &Cid,
        viewer: Option<&AuthContext>,
    ) -> Result<BlobData> {
        let row = self.account_row(did).await?;
        self.check_readable(&row, viewer)?;
        let not_found = || Error::new(ErrorKind::BlobNotFound, "Blob not found");
        let meta = self
            .deps
            .blobs
            .blob(did, cid)
            .await?
            .filter(|b| !b.temp)
            .ok_or_else(not_found)?;
        let got = match self.deps.blob_store.get(&blob_path(did, cid)).await {
            Ok(g) => g,
            Err(object_store::Error::NotFound { .. }) => return Err(not_found()),
            Err(e) => return Err(Error::internal("reading blob bytes", e)),
        };
        let bytes = got
            .bytes()
            .await
            .map_err(|e| Error::internal("reading blob bytes", e))?;
        Ok(BlobData {
            mime_type: meta.mime_type,
            size: bytes.len() as u64,
            bytes,
        })
    }

    /// `com.atproto.sync.listBlobs`: committed blobs only (checklist #63); `limit` clamped to
    /// 1..=1000 (default 500).
    pub async fn list_blobs(
        &self,
        did: &Did,
        since: Option<&Tid>,
        limit: Option<u32>,
        cursor: Option<&str>,
        viewer: Option<&AuthContext>,
    ) -> Result<ListBlobs> {
        let row = self.account_row(did).await?;
        self.check_readable(&row, viewer)?;
        let limit = limit.unwrap_or(500).clamp(1, 1000) as usize;
        let cursor = match cursor {
            None | Some("") => None,
            Some(c) => {
                Some(data_model::parse_cid(c).map_err(|_| Error::invalid("Invalid cursor"))?)
            }
        };
        let cids = self
            .deps
            .blobs
            .list_blobs(did, since, cursor.as_ref(), limit)
            .await?;
        let next = (cids.len() == limit)
            .then(|| cids.last().map(Cid::to_string))
            .flatten();
        Ok(ListBlobs { cids, cursor: next })
    }

    /// Deletes temporary blobs older than `older_than` (at least one hour, checklist #173):
    /// metadata first, then bytes. Returns how many were collected.
    pub async fn collect_temp_blobs(&self, older_than: Duration) -> Result<usize> {
        let age = older_than.max(MIN_TEMP_BLOB_AGE);
        let cutoff = now_ms() - i64::try_from(age.as_millis()).unwrap_or(i64::MAX);
        let mut total = 0;
        loop {
            let batch = self.deps.blobs.take_expired_temp_blobs(cutoff, 500).await?;
            if batch.is_empty() {
                return Ok(total);
            }
            total += batch.len();
            for (did, cid) in batch {
                self.delete_blob_bytes(&did, &cid).await;
            }
        }
    }

    /// Best-effort deletion of blob bytes whose metadata is gone (failures are logged; the
    /// bytes are unreachable either way). Skipped if the blob was uploaded again meanwhile.
    pub(crate) async fn delete_blob_bytes(&self, did: &Did, cid: &Cid) {
        if let Ok(Some(_)) = self.deps.blobs.blob(did, cid).await {
            return;
        }
        match self.deps.blob_store.delete(&blob_path(did, cid)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => tracing::warn!(%did, %cid, error = %e, "could not delete blob bytes"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing_and_declared_types() {
        let cases: &[(&[u8], Option<&str>)] = &[
            (b"\x89PNG\r\n\x1a\n....", Some("image/png")),
            (b"\xff\xd8\xff\xe0", Some("image/jpeg")),
            (b"GIF89a..", Some("image/gif")),
            (b"RIFF\0\0\0\0WEBPVP8 ", Some("image/webp")),
            (b"\0\0\0\x18ftypmp42", Some("video/mp4")),
            (b"\0\0\0\x18ftypavif", Some("image/avif")),
            (b"hello", None),
            (b"", None),
        ];
        for (bytes, want) in cases {
            assert_eq!(sniff_mime(bytes), *want, "{bytes:?}");
        }
        assert_eq!(
            usable_declared("Image/PNG; q=1").as_deref(),
            Some("image/png")
        );
        assert_eq!(usable_declared("*/*").as_deref(), None);
        assert_eq!(usable_declared("text").as_deref(), None);
        assert_eq!(usable_declared("a b/c").as_deref(), None);
    }
}
