//! Fuzz target: the MST node decoder (reached through `Mst::load`, as a hostile CAR or store
//! would reach it). Any bytes stored under their own CID must load, iterate and verify without
//! panicking; invalid nodes give typed errors.
#![no_main]

use libfuzzer_sys::fuzz_target;
use repo::blockstore::{BlockMap, BlockStore, MemoryBlockStore};
use repo::mst::Mst;

fuzz_target!(|data: &[u8]| {
    let cid = data_model::cid_for_cbor(data);
    let mut store = MemoryBlockStore::new();
    let mut blocks = BlockMap::new();
    blocks.insert(cid, data.to_vec());
    if store.put_many(blocks).is_err() {
        return;
    }
    if let Ok(mst) = Mst::load(&store, &cid) {
        let _ = mst.verify_all(&store);
        for item in mst.iter(&store) {
            if item.is_err() {
                break;
            }
        }
    }
});
