//! In-order iteration over an [`Mst`](super::Mst): all entries, from a start key, or under a
//! prefix. Nodes are loaded (and checked) lazily as the walk reaches them and stay cached in
//! the tree, so keys can be borrowed from it.

use data_model::Cid;

use super::MstError;
use super::node::{Link, Node};
use super::tree::node_ref;
use crate::blockstore::BlockStore;

struct Frame<'a> {
    node: &'a Node,
    /// Next step: even `2i` = descend into slot `i`; odd `2i + 1` = yield entry `i`.
    pos: usize,
    height: u8,
    lo: Option<&'a [u8]>,
    hi: Option<&'a [u8]>,
}

/// Iterator over `(key, value)` entries in key order; yields an error (then stops) if a node
/// cannot be loaded. Created by [`Mst::iter`](super::Mst::iter),
/// [`Mst::iter_from`](super::Mst::iter_from) and [`Mst::iter_prefix`](super::Mst::iter_prefix).
pub struct Iter<'a, S: BlockStore + ?Sized> {
    store: &'a S,
    root: Option<&'a Link>,
    height: u8,
    start: Option<&'a str>,
    prefix: Option<&'a str>,
    stack: Vec<Frame<'a>>,
    started: bool,
    done: bool,
}

impl<'a, S: BlockStore + ?Sized> Iter<'a, S> {
    pub(crate) fn new(
        root: Option<&'a Link>,
        height: u8,
        store: &'a S,
        start: Option<&'a str>,
        prefix: Option<&'a str>,
    ) -> Self {
        Iter {
            store,
            root,
            height,
            start,
            prefix,
            stack: Vec::new(),
            started: false,
            done: false,
        }
    }

    /// Positions the stack so that the next yielded entry is the first one `>= start`.
    fn seek(&mut self) -> Result<(), MstError> {
        let Some(root) = self.root else { return Ok(()) };
        let src: &S = self.store;
        let mut node = node_ref(src, root, self.height, None, None)?;
        let (mut h, mut lo, mut hi) = (self.height, None, None);
        loop {
            let Some(start) = self.start else {
                self.stack.push(Frame {
                    node,
                    pos: 0,
                    height: h,
                    lo,
                    hi,
                });
                return Ok(());
            };
            match node.search(start) {
                Ok(i) => {
                    self.stack.push(Frame {
                        node,
                        pos: 2 * i + 1,
                        height: h,
                        lo,
                        hi,
                    });
                    return Ok(());
                }
                Err(i) => {
                    self.stack.push(Frame {
                        node,
                        pos: 2 * i + 1,
                        height: h,
                        lo,
                        hi,
                    });
                    let Some(child) = node.slot(i) else {
                        return Ok(());
                    };
                    let clo = if i == 0 {
                        lo
                    } else {
                        Some(node.entries[i - 1].key.as_bytes())
                    };
                    let chi = node.entries.get(i).map_or(hi, |e| Some(e.key.as_bytes()));
                    h = h
                        .checked_sub(1)
                        .ok_or(MstError::Internal("subtree below height 0"))?;
                    node = node_ref(src, child, h, clo, chi)?;
                    (lo, hi) = (clo, chi);
                }
            }
        }
    }

    fn step(&mut self) -> Option<Result<(&'a str, Cid), MstError>> {
        let src: &S = self.store;
        loop {
            let frame = self.stack.last_mut()?;
            let node = frame.node;
            let pos = frame.pos;
            if pos > 2 * node.entries.len() {
                self.stack.pop();
                continue;
            }
            frame.pos += 1;
            if pos % 2 == 1 {
                let e = &node.entries[pos / 2];
                return Some(Ok((e.key.as_str(), e.value)));
            }
            let i = pos / 2;
            let Some(child) = node.slot(i) else { continue };
            let lo = if i == 0 {
                frame.lo
            } else {
                Some(node.entries[i - 1].key.as_bytes())
            };
            let hi = node
                .entries
                .get(i)
                .map_or(frame.hi, |e| Some(e.key.as_bytes()));
            let Some(h) = frame.height.checked_sub(1) else {
                return Some(Err(MstError::Internal("subtree below height 0")));
            };
            match node_ref(src, child, h, lo, hi) {
                Ok(child) => self.stack.push(Frame {
                    node: child,
                    pos: 0,
                    height: h,
                    lo,
                    hi,
                }),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

impl<'a, S: BlockStore + ?Sized> Iterator for Iter<'a, S> {
    type Item = Result<(&'a str, Cid), MstError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if !self.started {
            self.started = true;
            if let Err(e) = self.seek() {
                self.done = true;
                return Some(Err(e));
            }
        }
        let item = self.step();
        match &item {
            None | Some(Err(_)) => self.done = true,
            Some(Ok((key, _))) => {
                if let Some(prefix) = self.prefix
                    && !key.starts_with(prefix)
                {
                    self.done = true;
                    return None;
                }
            }
        }
        item
    }
}
