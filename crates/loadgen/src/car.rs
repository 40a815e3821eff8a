//! Minimal CAR v1 framing check for downloaded repos: walks the varint-framed sections and
//! counts blocks, so a benchmark never times an error page or a truncated body as a "repo".
//! (Full verification is the repo engine's job and the e2e tests'; this only frames.)

/// Why bytes are not a well-framed CAR v1.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CarError {
    /// A varint ran past the end of the data or over 64 bits.
    #[error("truncated or overlong varint at byte {0}")]
    Varint(usize),
    /// A section length points past the end of the data.
    #[error("section at byte {0} runs past the end of the data")]
    Truncated(usize),
    /// The file has a header but no blocks.
    #[error("no blocks")]
    Empty,
}

fn read_varint(data: &[u8], mut pos: usize) -> Result<(u64, usize), CarError> {
    let start = pos;
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *data.get(pos).ok_or(CarError::Varint(start))?;
        pos += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok((value, pos));
        }
    }
    Err(CarError::Varint(start))
}

/// Counts the blocks of a CAR v1 file (header section skipped), checking only the framing.
pub fn count_blocks(data: &[u8]) -> Result<usize, CarError> {
    let mut pos = 0usize;
    let mut sections = 0usize;
    while pos < data.len() {
        let (len, body) = read_varint(data, pos)?;
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| body.checked_add(l))
            .filter(|&e| e <= data.len())
            .ok_or(CarError::Truncated(pos))?;
        sections += 1;
        pos = end;
    }
    match sections {
        0 | 1 => Err(CarError::Empty),
        n => Ok(n - 1),
    }
}
