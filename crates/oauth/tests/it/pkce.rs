//! PKCE `S256` (checklist #153): RFC 7636's Appendix B vector, method and syntax rules.

use oauth::pkce::{PkceError, check_challenge, s256_challenge, verify_s256};

/// RFC 7636 Appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

#[test]
fn checklist_153_rfc7636_appendix_b() {
    assert_eq!(s256_challenge(VERIFIER), CHALLENGE);
    assert_eq!(verify_s256(VERIFIER, CHALLENGE), Ok(()));
    assert_eq!(check_challenge(Some("S256"), CHALLENGE), Ok(()));
}

#[test]
fn checklist_153_only_s256() {
    for method in [None, Some("plain"), Some("s256"), Some("S512"), Some("")] {
        assert_eq!(
            check_challenge(method, CHALLENGE),
            Err(PkceError::Method),
            "{method:?}"
        );
    }
}

#[test]
fn checklist_153_challenge_and_verifier_syntax() {
    for bad in [
        "",
        "short",
        &CHALLENGE[..42],
        &format!("{CHALLENGE}A"),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM",
    ] {
        assert_eq!(
            check_challenge(Some("S256"), bad),
            Err(PkceError::Challenge),
            "{bad}"
        );
    }
    let too_long = "a".repeat(129);
    for bad in [
        "",
        &VERIFIER[..42],
        too_long.as_str(),
        "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjX+",
        "dBjftJeZ4CVP mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
    ] {
        assert_eq!(
            verify_s256(bad, CHALLENGE),
            Err(PkceError::Verifier),
            "{bad}"
        );
    }
    // Well-formed but not the one the challenge was made from.
    let other = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl";
    assert_eq!(verify_s256(other, CHALLENGE), Err(PkceError::Mismatch));
    // The longest verifier works.
    let long = "~".repeat(128);
    assert_eq!(verify_s256(&long, &s256_challenge(&long)), Ok(()));
}
