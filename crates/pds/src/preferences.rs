//! `app.bsky.actor.getPreferences` / `putPreferences`, stored locally (issue 4, item 8): one
//! JSON array per account in the `app.bsky` namespace. `putPreferences` replaces the whole set;
//! every item must be an object whose `$type` is in `app.bsky.*`. Personal details are hidden
//! from, and cannot be set by, app-password sessions (as the reference does).

use crate::Pds;
use crate::error::{Error, Result};
use crate::jwt::AuthContext;

/// The namespace the Bluesky preferences live in.
pub(crate) const BSKY_NAMESPACE: &str = "app.bsky";

const PERSONAL_DETAILS: &str = "app.bsky.actor.defs#personalDetailsPref";

/// Largest stored preference document, in bytes.
const MAX_PREFERENCES_BYTES: usize = 512 * 1024;

fn pref_type(item: &serde_json::Value) -> Option<&str> {
    item.get("$type").and_then(serde_json::Value::as_str)
}

impl Pds {
    /// `app.bsky.actor.getPreferences`.
    pub async fn get_preferences(&self, auth: &AuthContext) -> Result<Vec<serde_json::Value>> {
        let stored = self
            .deps
            .preferences
            .preferences(&auth.did, BSKY_NAMESPACE)
            .await?;
        let items: Vec<serde_json::Value> = match stored {
            None => Vec::new(),
            Some(text) => serde_json::from_str(&text)
                .map_err(|e| Error::internal("stored preferences do not parse", e))?,
        };
        Ok(items
            .into_iter()
            .filter(|i| auth.is_full_access() || pref_type(i) != Some(PERSONAL_DETAILS))
            .collect())
    }

    /// `app.bsky.actor.putPreferences` (replaces the stored set).
    pub async fn put_preferences(
        &self,
        auth: &AuthContext,
        preferences: Vec<serde_json::Value>,
    ) -> Result<()> {
        for item in &preferences {
            let Some(t) = pref_type(item).filter(|_| item.is_object()) else {
                return Err(Error::invalid("Preference is missing a $type"));
            };
            if !t.starts_with("app.bsky.") {
                return Err(Error::invalid(
                    "Some preferences are not in the app.bsky namespace",
                ));
            }
            if t == PERSONAL_DETAILS && !auth.is_full_access() {
                return Err(Error::invalid(
                    "Do not have authorization to set preferences.",
                ));
            }
        }
        let text = serde_json::to_string(&preferences)
            .map_err(|e| Error::internal("encoding preferences", e))?;
        if text.len() > MAX_PREFERENCES_BYTES {
            return Err(Error::invalid("Preferences too large"));
        }
        self.deps
            .preferences
            .put_preferences(&auth.did, BSKY_NAMESPACE, &text)
            .await?;
        Ok(())
    }
}
