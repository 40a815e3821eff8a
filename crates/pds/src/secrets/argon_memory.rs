//! Argon2's working memory, reused: a process-wide pool of block buffers that also bounds how
//! many password hashes run at once.
//!
//! Each argon2id hash needs `m_cost` KiB of scratch memory (19 MiB at the standard cost). Left
//! to the argon2 crate, every hash allocates and frees its own buffer; with glibc that first
//! free raises the dynamic mmap threshold, later buffers come from per-thread arenas, and the
//! arenas keep them: `relay serve` grew by about 150 MiB per eight concurrent logins and never
//! gave it back (measured: 626 MiB -> 1 GiB over four rounds of eight `createSession` calls;
//! flat with the buffers pooled). Pooling fixes that and bounds the worst case: at most
//! [`max_concurrent`] buffers exist, a hash that finds none free waits for one, so a burst of
//! logins costs CPU time, never unbounded memory (argon2 is a cheap memory-exhaustion lever
//! for an attacker otherwise).

use std::sync::{Condvar, Mutex, OnceLock};

use argon2::Block;

/// The pool: idle buffers plus how many are lent out.
struct Pool {
    state: Mutex<State>,
    returned: Condvar,
    max: usize,
}

#[derive(Default)]
struct State {
    idle: Vec<Vec<Block>>,
    lent: usize,
}

/// Most password hashes that run at once (and buffers that exist): the machine's parallelism,
/// at least 1 and at most 4.
#[cfg(test)]
pub(crate) fn max_concurrent() -> usize {
    pool().max
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool {
        state: Mutex::new(State::default()),
        returned: Condvar::new(),
        max: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, 4),
    })
}

/// Runs `f` with a buffer of at least `blocks` argon2 blocks, blocking the calling thread while
/// [`max_concurrent`] hashes are already running. Call it from a blocking task.
pub(crate) fn with_blocks<T>(blocks: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
    let p = pool();
    let mut buf = {
        let mut g = p.state.lock().unwrap_or_else(|e| e.into_inner());
        while g.lent >= p.max {
            g = p.returned.wait(g).unwrap_or_else(|e| e.into_inner());
        }
        g.lent += 1;
        g.idle.pop().unwrap_or_default()
    };
    // Give the buffer back (and wake a waiter) even if `f` panics.
    struct Lend<'a> {
        pool: &'a Pool,
        buf: Option<Vec<Block>>,
    }
    impl Drop for Lend<'_> {
        fn drop(&mut self) {
            let mut g = self.pool.state.lock().unwrap_or_else(|e| e.into_inner());
            g.lent -= 1;
            if let Some(b) = self.buf.take() {
                g.idle.push(b);
            }
            drop(g);
            self.pool.returned.notify_one();
        }
    }
    if buf.len() < blocks {
        buf.resize(blocks, Block::default());
    }
    let mut lend = Lend {
        pool: p,
        buf: Some(buf),
    };
    let slice = match lend.buf.as_mut() {
        Some(b) => &mut b[..blocks],
        None => &mut [],
    };
    f(slice)
}

/// (buffers lent out, idle buffers): for tests.
#[cfg(test)]
pub(crate) fn counts() -> (usize, usize) {
    let g = pool().state.lock().unwrap_or_else(|e| e.into_inner());
    (g.lent, g.idle.len())
}
