//! Multibase/multicodec plumbing for public keys: `z` + base58btc, optionally behind an
//! unsigned-varint multicodec prefix (checklist #21). Knows bytes only, not curve arithmetic.

use crate::{CryptoError, Curve};

/// `z` + base58btc(varint(codec) ‖ key_bytes).
pub(crate) fn encode(curve: Curve, key_bytes: &[u8]) -> String {
    let mut bytes = Vec::with_capacity(2 + key_bytes.len());
    let mut code = curve.multicodec();
    loop {
        let low = (code & 0x7f) as u8;
        code >>= 7;
        if code == 0 {
            bytes.push(low);
            break;
        }
        bytes.push(low | 0x80);
    }
    bytes.extend_from_slice(key_bytes);
    format!("z{}", bs58::encode(bytes).into_string())
}

/// Decodes `z` + base58btc into raw bytes (no codec interpretation).
pub(crate) fn decode_base58btc(s: &str) -> Result<Vec<u8>, CryptoError> {
    let body = s.strip_prefix('z').ok_or(CryptoError::InvalidMultibase(
        "expected base58btc with a 'z' prefix",
    ))?;
    bs58::decode(body)
        .into_vec()
        .map_err(|_| CryptoError::InvalidMultibase("invalid base58btc"))
}

/// Decodes a multikey into its curve and the key bytes after the codec.
pub(crate) fn decode(s: &str) -> Result<(Curve, Vec<u8>), CryptoError> {
    let bytes = decode_base58btc(s)?;
    let (code, rest) = read_varint(&bytes)?;
    let curve = Curve::from_multicodec(code).ok_or(CryptoError::UnsupportedMulticodec(code))?;
    Ok((curve, rest.to_vec()))
}

/// Reads a minimally encoded unsigned varint (multiformats rules: at most 9 bytes).
fn read_varint(bytes: &[u8]) -> Result<(u64, &[u8]), CryptoError> {
    let mut value: u64 = 0;
    for (i, &byte) in bytes.iter().enumerate().take(9) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            if byte == 0 && i > 0 {
                return Err(CryptoError::InvalidMultibase(
                    "non-minimal multicodec varint",
                ));
            }
            return Ok((value, &bytes[i + 1..]));
        }
    }
    Err(CryptoError::InvalidMultibase("truncated multicodec varint"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_prefixes_match_the_spec() {
        // checklist #21: P-256 is 0x80 0x24, K-256 is 0xe7 0x01.
        let p = decode_base58btc(&encode(Curve::P256, &[])).unwrap();
        assert_eq!(p, [0x80, 0x24]);
        let k = decode_base58btc(&encode(Curve::K256, &[])).unwrap();
        assert_eq!(k, [0xe7, 0x01]);
    }

    #[test]
    fn varint_edge_cases() {
        assert_eq!(read_varint(&[0x01, 9]).unwrap(), (1, &[9u8][..]));
        assert!(read_varint(&[0xe7]).is_err());
        assert!(read_varint(&[]).is_err());
        assert!(read_varint(&[0xe7, 0x81, 0x00]).is_err());
        assert!(read_varint(&[0xff; 12]).is_err());
    }
}
