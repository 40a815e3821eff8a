//! Unit tests for `Uri`.

use super::{Uri, UriError};

#[test]
fn errors_say_what_is_wrong() {
    let err = |s: &str| s.parse::<Uri>().unwrap_err();
    assert_eq!(err(""), UriError::Empty);
    assert_eq!(err("example.com"), UriError::InvalidScheme);
    assert_eq!(err("12345:x"), UriError::InvalidScheme);
    assert_eq!(err("http:"), UriError::EmptyAfterScheme);
    assert_eq!(err("https://a.b/c d"), UriError::Whitespace { pos: 13 });
    assert_eq!(err("http:").to_string(), "URI has nothing after the scheme");
    let u: Uri = "https://example.com/ünïcode".parse().unwrap();
    assert_eq!(u.scheme(), "https");
}
