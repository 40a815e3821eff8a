//! Operator and invite use cases: invite codes (`server.createInviteCode(s)`,
//! `getAccountInviteCodes`, `admin.getInviteCodes`, `disableInviteCodes`,
//! `disable/enableAccountInvites`), the invite check of `createAccount`, admin account views
//! (`admin.getAccountInfo(s)`, `searchAccounts`, `getSubjectStatus`, `updateAccountHandle`) and
//! `server.reserveSigningKey` (checklist #99, #132). The relay checks admin auth before calling
//! the `admin_*` methods; behaviour follows the reference PDS.

use rand::RngCore;
use syntax::{Did, Handle};

use crate::error::{Error, ErrorKind, Result};
use crate::jwt::AuthContext;
use crate::ports::{INVITE_ADMIN, InviteCodeRow, InviteSort, NewInviteCode};
use crate::{Pds, ms_to_datetime, now_ms};

/// Most codes one `createInviteCodes` call may make per account.
const MAX_CODES_PER_CALL: usize = 1_000;

/// An invite code as the lexicon's `com.atproto.server.defs#inviteCode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteCode {
    /// The code.
    pub code: String,
    /// How many accounts it may create.
    pub available: i64,
    /// Whether it is disabled.
    pub disabled: bool,
    /// The account it belongs to, or `admin`.
    pub for_account: String,
    /// Who made it (a DID or `admin`).
    pub created_by: String,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// `(usedBy, usedAt)` of each use, most recent first.
    pub uses: Vec<(Did, String)>,
}

impl From<InviteCodeRow> for InviteCode {
    fn from(row: InviteCodeRow) -> InviteCode {
        InviteCode {
            code: row.code,
            available: row.available,
            disabled: row.disabled,
            for_account: row.for_account,
            created_by: row.created_by,
            created_at: ms_to_datetime(row.created_at),
            uses: row
                .uses
                .into_iter()
                .map(|u| (u.used_by, ms_to_datetime(u.used_at)))
                .collect(),
        }
    }
}

/// A page of `admin.getInviteCodes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteCodePage {
    /// The codes.
    pub codes: Vec<InviteCode>,
    /// Where the next page starts, if there may be one.
    pub cursor: Option<String>,
}

/// An account as `com.atproto.admin.defs#accountView`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountInfo {
    /// DID.
    pub did: Did,
    /// Handle.
    pub handle: Handle,
    /// Email.
    pub email: Option<String>,
    /// When the current email was confirmed (RFC 3339); `None`: not confirmed.
    pub email_confirmed_at: Option<String>,
    /// Creation time (RFC 3339).
    pub indexed_at: String,
    /// The code the account was created with.
    pub invited_by: Option<InviteCode>,
    /// The account's own codes.
    pub invites: Vec<InviteCode>,
    /// Whether the account may get new codes.
    pub invites_disabled: bool,
    /// When the account was deactivated (RFC 3339).
    pub deactivated_at: Option<String>,
}

/// `reserveSigningKey` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservedKey {
    /// The reserved key's public half as a did:key.
    pub signing_key: String,
}

/// A code like the reference's: the hostname with `.` -> `-`, then `xxxxx-xxxxx` in base32.
fn gen_invite_code(hostname: &str) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut bytes = [0u8; 10];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token: String = bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b & 31)]))
        .collect();
    format!(
        "{}-{}-{}",
        hostname.replace('.', "-"),
        &token[..5],
        &token[5..]
    )
}

/// The host of a URL like `https://pds.example.com:443/` (`pds.example.com`).
fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.split('/').next().unwrap_or(rest);
    rest.rsplit_once(':').map_or(rest, |(h, _)| h)
}

fn invalid_invite() -> Error {
    Error::new(
        ErrorKind::InvalidInviteCode,
        "Provided invite code not available",
    )
}

fn parse_cursor(cursor: &str) -> Result<(i64, String)> {
    let bad = || Error::invalid("Malformed cursor");
    let (primary, code) = cursor.split_once("::").ok_or_else(bad)?;
    Ok((primary.parse().map_err(|_| bad())?, code.to_owned()))
}

impl Pds {
    fn invite_hostname(&self) -> &str {
        url_host(&self.config.public_url)
    }

    /// `com.atproto.server.createInviteCodes` (admin): `code_count` codes for each of
    /// `for_accounts` (`admin` when empty), each good for `use_count` accounts. Returns
    /// `(account, codes)` pairs.
    pub async fn create_invite_codes(
        &self,
        for_accounts: Vec<String>,
        code_count: usize,
        use_count: i64,
    ) -> Result<Vec<(String, Vec<String>)>> {
        if use_count < 1 {
            return Err(Error::invalid("useCount must be at least 1"));
        }
        if code_count > MAX_CODES_PER_CALL {
            return Err(Error::invalid(format!(
                "codeCount must be at most {MAX_CODES_PER_CALL}"
            )));
        }
        let accounts = if for_accounts.is_empty() {
            vec![INVITE_ADMIN.to_owned()]
        } else {
            for_accounts
        };
        let now = now_ms();
        let mut rows = Vec::new();
        let mut out = Vec::new();
        for account in accounts {
            if account != INVITE_ADMIN && account.parse::<Did>().is_err() {
                return Err(Error::invalid(format!(
                    "Invalid forAccounts entry: {account}"
                )));
            }
            let codes: Vec<String> = (0..code_count)
                .map(|_| gen_invite_code(self.invite_hostname()))
                .collect();
            rows.extend(codes.iter().map(|code| NewInviteCode {
                code: code.clone(),
                available: use_count,
                for_account: account.clone(),
                created_by: INVITE_ADMIN.to_owned(),
                created_at: now,
                disabled: false,
            }));
            out.push((account, codes));
        }
        self.deps.account_admin.create_invite_codes(rows).await?;
        Ok(out)
    }

    /// `com.atproto.server.createInviteCode` (admin): one code for `for_account` (default
    /// `admin`).
    pub async fn create_invite_code(
        &self,
        for_account: Option<String>,
        use_count: i64,
    ) -> Result<String> {
        let made = self
            .create_invite_codes(for_account.into_iter().collect(), 1, use_count)
            .await?;
        made.into_iter()
            .flat_map(|(_, codes)| codes)
            .next()
            .ok_or_else(|| Error::invalid("no code created"))
    }

    /// `com.atproto.server.getAccountInviteCodes` (full-access sessions): the caller's codes,
    /// without disabled ones and, unless `include_used`, without used-up ones.
    /// `createAvailable` is accepted; codes are only made by the operator here (the
    /// reference's periodic per-account codes need an interval setting we do not have).
    pub async fn account_invite_codes(
        &self,
        auth: &AuthContext,
        include_used: bool,
    ) -> Result<Vec<InviteCode>> {
        auth.require_full_access()?;
        let row = self.account_row(&auth.did).await?;
        if row.takedown_ref.is_some() {
            return Err(Error::new(
                ErrorKind::AccountTakedown,
                "Account has been taken down",
            ));
        }
        let codes = self
            .deps
            .account_admin
            .account_invite_codes(&auth.did)
            .await?;
        Ok(codes
            .into_iter()
            .filter(|c| !c.disabled)
            .filter(|c| include_used || (c.uses.len() as i64) < c.available)
            .map(InviteCode::from)
            .collect())
    }

    /// `com.atproto.admin.getInviteCodes`: every code, `recent` (default) or `usage` order.
    pub async fn admin_invite_codes(
        &self,
        sort: Option<&str>,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<InviteCodePage> {
        let sort = match sort.unwrap_or("recent") {
            "recent" => InviteSort::Recent,
            "usage" => InviteSort::Usage,
            other => return Err(Error::invalid(format!("unknown sort method: {other}"))),
        };
        let after = cursor.map(parse_cursor).transpose()?;
        let limit = limit.clamp(1, 500);
        let rows = self
            .deps
            .account_admin
            .list_invite_codes(sort, after, limit)
            .await?;
        let cursor = if rows.len() == limit {
            rows.last().map(|r| {
                let primary = match sort {
                    InviteSort::Recent => r.created_at,
                    InviteSort::Usage => r.uses.len() as i64,
                };
                format!("{primary}::{}", r.code)
            })
        } else {
            None
        };
        Ok(InviteCodePage {
            codes: rows.into_iter().map(InviteCode::from).collect(),
            cursor,
        })
    }

    /// `com.atproto.admin.disableInviteCodes`: the listed codes and every code of the listed
    /// accounts (`admin` may not be listed).
    pub async fn disable_invite_codes(&self, codes: &[String], accounts: &[String]) -> Result<()> {
        if accounts.iter().any(|a| a == INVITE_ADMIN) {
            return Err(Error::invalid("cannot disable admin invite codes"));
        }
        self.deps
            .account_admin
            .disable_invite_codes(codes, accounts)
            .await?;
        Ok(())
    }

    /// `com.atproto.admin.disableAccountInvites` (`true`) / `enableAccountInvites` (`false`).
    pub async fn set_account_invites_disabled(&self, did: &Did, disabled: bool) -> Result<()> {
        self.account_row(did).await?;
        self.deps
            .account_admin
            .set_invites_disabled(did, disabled)
            .await?;
        Ok(())
    }

    /// Checks `code` can create an account: required and present when the server needs invites
    /// (else ignored), exists, not disabled, uses left, its owner not taken down.
    /// Returns the code to claim, if any.
    pub(crate) async fn check_invite(&self, code: Option<&str>) -> Result<Option<String>> {
        if !self.config.invite_required {
            return Ok(None);
        }
        let Some(code) = code.map(str::trim).filter(|c| !c.is_empty()) else {
            return Err(Error::new(
                ErrorKind::InvalidInviteCode,
                "No invite code provided",
            ));
        };
        let row = self
            .deps
            .account_admin
            .invite_code(code)
            .await?
            .ok_or_else(invalid_invite)?;
        if row.disabled || row.uses.len() as i64 >= row.available {
            return Err(invalid_invite());
        }
        if row.for_account != INVITE_ADMIN
            && let Ok(owner) = row.for_account.parse::<Did>()
            && let Some(owner) = self.deps.accounts.account(&owner).await?
            && owner.takedown_ref.is_some()
        {
            return Err(invalid_invite());
        }
        Ok(Some(row.code))
    }

    /// Records the use of `code` by `did`, atomically against its remaining uses.
    pub(crate) async fn claim_invite(&self, code: &str, did: &Did) -> Result<()> {
        if self
            .deps
            .account_admin
            .use_invite_code(code, did, now_ms())
            .await?
        {
            Ok(())
        } else {
            Err(invalid_invite())
        }
    }

    /// Gives back a claimed use after a failed account creation (best effort).
    pub(crate) async fn release_invite(&self, code: &str, did: &Did) {
        if let Err(e) = self.deps.account_admin.release_invite_code(code, did).await {
            tracing::warn!(%did, error = %e, "could not release an invite code use");
        }
    }

    /// `com.atproto.admin.getAccountInfo`: `NotFound` when there is no such account.
    pub async fn admin_account_info(&self, did: &Did) -> Result<AccountInfo> {
        let row = self
            .deps
            .accounts
            .account(did)
            .await?
            .ok_or_else(|| Error::new(ErrorKind::NotFound, "Account not found"))?;
        let store = &self.deps.account_admin;
        let invites = store.account_invite_codes(did).await?;
        let invited_by = store.invited_by(did).await?;
        let email_confirmed_at = self.deps.email_tokens.email_confirmed_at(did).await?;
        Ok(AccountInfo {
            did: row.did,
            handle: row.handle,
            email: row.email,
            email_confirmed_at: email_confirmed_at.map(ms_to_datetime),
            indexed_at: ms_to_datetime(row.created_at),
            invited_by: invited_by.map(InviteCode::from),
            invites: invites.into_iter().map(InviteCode::from).collect(),
            invites_disabled: store.invites_disabled(did).await?,
            deactivated_at: row.deactivated_at.map(ms_to_datetime),
        })
    }

    /// `com.atproto.admin.getAccountInfos`: the accounts that exist, in the order asked.
    pub async fn admin_account_infos(&self, dids: &[Did]) -> Result<Vec<AccountInfo>> {
        let mut out = Vec::with_capacity(dids.len());
        for did in dids {
            match self.admin_account_info(did).await {
                Ok(info) => out.push(info),
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// `com.atproto.admin.searchAccounts`: accounts whose email starts with `email`
    /// (case-insensitive; all accounts when absent), by DID; the cursor is the last DID.
    pub async fn admin_search_accounts(
        &self,
        email: Option<&str>,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<AccountInfo>, Option<String>)> {
        let after = cursor
            .map(|c| {
                c.parse::<Did>()
                    .map_err(|_| Error::invalid("Malformed cursor"))
            })
            .transpose()?;
        let limit = limit.clamp(1, 100);
        let dids = self
            .deps
            .account_admin
            .search_accounts(email.unwrap_or("").trim(), after.as_ref(), limit)
            .await?;
        let cursor = (dids.len() == limit)
            .then(|| dids.last().map(|d| d.as_str().to_owned()))
            .flatten();
        Ok((self.admin_account_infos(&dids).await?, cursor))
    }

    /// `com.atproto.admin.getSubjectStatus` for a repo: `(takedown ref, deactivated)`;
    /// `NotFound` when there is no such account.
    pub async fn admin_subject_status(&self, did: &Did) -> Result<(Option<String>, bool)> {
        let row = self
            .deps
            .accounts
            .account(did)
            .await?
            .ok_or_else(|| Error::new(ErrorKind::NotFound, "Subject not found"))?;
        Ok((row.takedown_ref, row.deactivated_at.is_some()))
    }

    /// `com.atproto.server.reserveSigningKey`: a K-256 key kept for `did` (or, without one,
    /// under its own did:key) until `createAccount` with that DID uses it. Asking again for the
    /// same DID returns the same key.
    pub async fn reserve_signing_key(&self, did: Option<&Did>) -> Result<ReservedKey> {
        if let Some(did) = did
            && let Some(sealed) = self.deps.account_admin.reserved_key(did.as_str()).await?
        {
            let key = crate::accounts::open_key(self, did, &sealed)?;
            return Ok(ReservedKey {
                signing_key: key.public_key().to_did_key(),
            });
        }
        let key = crypto::Keypair::generate(crypto::Curve::K256);
        let did_key = key.public_key().to_did_key();
        let id = did.map_or_else(|| did_key.clone(), |d| d.as_str().to_owned());
        let sealed = crate::accounts::seal_key_for(self, &id, &key);
        self.deps
            .account_admin
            .put_reserved_key(&id, sealed, now_ms())
            .await?;
        Ok(ReservedKey {
            signing_key: did_key,
        })
    }

    /// The key reserved for `did`, if any (removed from the reservations).
    pub(crate) async fn take_reserved_key(&self, did: &Did) -> Result<Option<crypto::Keypair>> {
        let Some(sealed) = self.deps.account_admin.reserved_key(did.as_str()).await? else {
            return Ok(None);
        };
        let key = crate::accounts::open_key(self, did, &sealed)?;
        self.deps
            .account_admin
            .delete_reserved_key(did.as_str())
            .await?;
        Ok(Some(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invite_codes_look_like_the_reference() {
        let code = gen_invite_code("pds.example.com");
        let (host, token) = code.split_at("pds-example-com-".len());
        assert_eq!(host, "pds-example-com-");
        assert_eq!(token.len(), 11);
        assert!(token.chars().enumerate().all(|(i, c)| if i == 5 {
            c == '-'
        } else {
            matches!(c, 'a'..='z' | '2'..='7')
        }));
        assert_eq!(
            url_host("https://pds.example.com:8443/x"),
            "pds.example.com"
        );
        assert_eq!(url_host("http://localhost:2583"), "localhost");
    }
}
