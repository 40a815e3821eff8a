//! Bulk construction of an MST from a whole key set, bottom-up in one pass over the sorted keys
//! instead of one insert per key. The result is the canonical tree for the set, identical
//! (same root CID) to what any sequence of inserts produces; it is just faster for imports and
//! first builds.

use data_model::Cid;

use super::node::{Entry, Key, Link, MAX_NODE_ENTRIES, Node, key_height, validate_key};
use super::{Mst, MstError};
use crate::blockstore::BlockMap;

struct Item {
    key: Key,
    value: Cid,
    height: u8,
}

/// Builds the subtree at height `h` holding exactly `items` (sorted, all of height `<= h`).
fn build_level(items: &[Item], h: u8) -> Result<Option<Link>, MstError> {
    if items.is_empty() {
        return Ok(None);
    }
    if h == 0 {
        if items.len() > MAX_NODE_ENTRIES {
            return Err(MstError::NodeTooLarge);
        }
        let entries = items
            .iter()
            .map(|it| Entry {
                key: it.key.clone(),
                value: it.value,
                right: None,
            })
            .collect();
        return Ok(Some(Link::dirty(Node {
            left: None,
            entries,
        })));
    }
    // Keys at this height split the items into the subtrees between them.
    let mut entries = Vec::new();
    let mut start = 0;
    let mut left = None;
    for (i, it) in items.iter().enumerate() {
        if it.height == h {
            let sub = build_level(&items[start..i], h - 1)?;
            match entries.last_mut() {
                None => left = sub,
                Some(Entry { right, .. }) => *right = sub,
            }
            if entries.len() >= MAX_NODE_ENTRIES {
                return Err(MstError::NodeTooLarge);
            }
            entries.push(Entry {
                key: it.key.clone(),
                value: it.value,
                right: None,
            });
            start = i + 1;
        }
    }
    let sub = build_level(&items[start..], h - 1)?;
    match entries.last_mut() {
        None => left = sub,
        Some(Entry { right, .. }) => *right = sub,
    }
    Ok(Some(Link::dirty(Node { left, entries })))
}

impl Mst {
    /// Builds the tree holding `entries` (any order; for a repeated key the last value wins).
    /// Equivalent to inserting them one by one into an empty tree, in a single bottom-up pass.
    pub fn from_entries<I, K>(entries: I) -> Result<Mst, MstError>
    where
        I: IntoIterator<Item = (K, Cid)>,
        K: AsRef<str>,
    {
        let mut items: Vec<Item> = Vec::new();
        for (k, value) in entries {
            let key = k.as_ref();
            validate_key(key.as_bytes())?;
            items.push(Item {
                key: Key::new(key.as_bytes()),
                value,
                height: key_height(key.as_bytes()),
            });
        }
        // Stable sort, then keep the last of each run of equal keys.
        items.sort_by(|a, b| a.key.as_bytes().cmp(b.key.as_bytes()));
        let mut deduped: Vec<Item> = Vec::with_capacity(items.len());
        for it in items {
            match deduped.last_mut() {
                Some(last) if last.key == it.key => *last = it,
                _ => deduped.push(it),
            }
        }
        let height = deduped.iter().map(|it| it.height).max().unwrap_or(0);
        let root = build_level(&deduped, height)?;
        Ok(Mst {
            root,
            height,
            unwritten: BlockMap::new(),
        })
    }
}
