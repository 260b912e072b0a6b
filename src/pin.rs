//! Pinning tags to digests through the host capability `oci/v1/manifest_digest`.

use std::collections::HashMap;

use crate::reference::check_digest;

/// Resolves an image reference to the digest its registry serves for it.
pub trait DigestResolver {
    fn manifest_digest(&self, image: &str) -> Result<String, String>;
}

/// The Kubewarden host: policy-server (or kwctl) asks the registry. A namespaced policy can be
/// denied this capability; the host then answers with an error, which is a lookup failure.
pub struct HostCapability;

impl DigestResolver for HostCapability {
    fn manifest_digest(&self, image: &str) -> Result<String, String> {
        kubewarden_policy_sdk::host_capabilities::oci::get_manifest_digest(image)
            .map(|r| r.digest)
            .map_err(|e| {
                format!("the host could not resolve it through oci/v1/manifest_digest ({e})")
            })
    }
}

/// Resolves each distinct image once per request and checks what the host answered.
pub struct Pinner<'r> {
    resolver: &'r dyn DigestResolver,
    resolved: HashMap<String, Result<String, String>>,
}

impl<'r> Pinner<'r> {
    pub fn new(resolver: &'r dyn DigestResolver) -> Self {
        Pinner {
            resolver,
            resolved: HashMap::new(),
        }
    }

    /// The digest for `image`, or why there is none. A malformed digest from the host is a
    /// failure, never a rewrite to a bad image.
    pub fn digest(&mut self, image: &str) -> Result<String, String> {
        if let Some(r) = self.resolved.get(image) {
            return r.clone();
        }
        let answer = self.resolver.manifest_digest(image).and_then(|d| {
            check_digest(&d)
                .map(|()| d.clone())
                .map_err(|e| format!("the host answered a malformed digest {d:?}: {e}"))
        });
        self.resolved.insert(image.to_owned(), answer.clone());
        answer
    }
}

/// `<reference as written>@<digest>`: the tag stays for people, the digest decides. Never a
/// reference this policy would refuse on the next admission (one past the length limit).
pub fn pinned_reference(written: &str, digest: &str) -> Result<String, String> {
    let pinned = format!("{written}@{digest}");
    match crate::reference::ImageRef::parse(&pinned) {
        Ok(_) => Ok(pinned),
        Err(e) => Err(format!("the pinned reference would be invalid: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    struct Counting {
        answer: Result<String, String>,
        calls: RefCell<Vec<String>>,
    }
    impl DigestResolver for Counting {
        fn manifest_digest(&self, image: &str) -> Result<String, String> {
            self.calls.borrow_mut().push(image.to_owned());
            self.answer.clone()
        }
    }

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn each_image_is_resolved_once() {
        let r = Counting {
            answer: Ok(D.into()),
            calls: RefCell::new(vec![]),
        };
        let mut p = Pinner::new(&r);
        assert_eq!(p.digest("nginx:1").unwrap(), D);
        assert_eq!(p.digest("nginx:1").unwrap(), D);
        assert_eq!(p.digest("redis:7").unwrap(), D);
        assert_eq!(*r.calls.borrow(), vec!["nginx:1", "redis:7"]);
    }

    #[test]
    fn malformed_digests_are_failures() {
        for bad in [
            "",
            "sha256:abc",
            "md5:0123",
            "not a digest",
            &D.to_uppercase(),
        ] {
            let r = Counting {
                answer: Ok(bad.into()),
                calls: RefCell::new(vec![]),
            };
            let e = Pinner::new(&r).digest("nginx:1").unwrap_err();
            assert!(
                e.starts_with("the host answered a malformed digest"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn failures_are_remembered_too() {
        let r = Counting {
            answer: Err("registry down".into()),
            calls: RefCell::new(vec![]),
        };
        let mut p = Pinner::new(&r);
        assert_eq!(p.digest("a:1").unwrap_err(), "registry down");
        assert_eq!(p.digest("a:1").unwrap_err(), "registry down");
        assert_eq!(r.calls.borrow().len(), 1);
    }

    #[test]
    fn pinned_reference_keeps_the_tag() {
        assert_eq!(
            pinned_reference("nginx:1.25", D).unwrap(),
            format!("nginx:1.25@{D}")
        );
        assert_eq!(
            pinned_reference("localhost:5000/app", D).unwrap(),
            format!("localhost:5000/app@{D}")
        );
        let long = format!("{}.example.com/app:1", "r".repeat(980));
        assert!(
            pinned_reference(&long, D)
                .unwrap_err()
                .contains("would be invalid")
        );
    }
}
