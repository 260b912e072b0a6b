//! sha256 digests in the OCI `sha256:<hex>` form.

use sha2::{Digest, Sha256, Sha384, Sha512};

/// `sha256:<64 lowercase hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    hex_digest("sha256", &Sha256::digest(bytes))
}

/// `<algorithm>:<lowercase hex>` of `bytes` for the algorithms a registry client checks
/// (`sha256`, `sha384`, `sha512`); `None` for any other.
pub fn digest_with(algorithm: &str, bytes: &[u8]) -> Option<String> {
    match algorithm {
        "sha256" => Some(hex_digest(algorithm, &Sha256::digest(bytes))),
        "sha384" => Some(hex_digest(algorithm, &Sha384::digest(bytes))),
        "sha512" => Some(hex_digest(algorithm, &Sha512::digest(bytes))),
        _ => None,
    }
}

fn hex_digest(algorithm: &str, hash: &[u8]) -> String {
    let mut out = String::with_capacity(algorithm.len() + 1 + 2 * hash.len());
    out.push_str(algorithm);
    out.push(':');
    for b in hash {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// The hex part of a `sha256:<hex>` digest, if it is one.
pub fn sha256_hex(digest: &str) -> Option<&str> {
    digest
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digest() {
        assert_eq!(
            sha256_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert!(sha256_hex(&sha256_digest(b"x")).is_some());
        assert!(sha256_hex("sha256:abc").is_none());
        assert_eq!(digest_with("sha256", b"x"), Some(sha256_digest(b"x")));
        assert_eq!(digest_with("sha512", b"").map(|d| d.len()), Some(7 + 128));
        assert_eq!(digest_with("md5", b""), None);
    }
}
