//! Arbitrary bytes as the host's answer to the Pod list (`kubernetes/list_resources_by_namespace`)
//! and to `oci/v1/oci_manifest`, for a new replica of a ReplicaSet in pin mode and for its
//! background audit: never a panic, every answer keeps the invariants of
//! `fuzz_support::check_answer`, and a replica's pin is always `<written>@<valid digest>`.
#![no_main]

use fuzz_support::{FuzzResolver, check_answer};
use immutable_images::testing::{Host, ListResourcesByNamespaceRequest, answer};
use libfuzzer_sys::fuzz_target;

const WRITTEN: &str = "ghcr.io/example/web:1.4";

/// The fuzz input answers the list and the manifest lookups; digests come from `FuzzResolver`.
struct Cluster<'a> {
    answer: &'a [u8],
    registry: FuzzResolver,
}

impl Host for Cluster<'_> {
    fn manifest_digest(&self, image: &str) -> Result<String, String> {
        self.registry.manifest_digest(image)
    }

    fn oci_manifest(&self, _: &str) -> Result<Vec<u8>, String> {
        Ok(self.answer.to_vec())
    }

    fn list_resources_by_namespace(
        &self,
        _: &ListResourcesByNamespaceRequest,
    ) -> Result<Vec<u8>, String> {
        Ok(self.answer.to_vec())
    }
}

fn payload(audit: bool) -> String {
    let user = if audit {
        r#""userInfo":{}"#
    } else {
        r#""userInfo":{"username":"system:serviceaccount:kube-system:replicaset-controller"},"dryRun":false"#
    };
    format!(
        r#"{{"request":{{"uid":"u","kind":{{"group":"","version":"v1","kind":"Pod"}},"namespace":"default",
        "operation":"CREATE",{user},"object":{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"web-7d9-z",
        "namespace":"default","ownerReferences":[{{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-7d9",
        "uid":"7d9c1a52-3f0e-4b8e-9a51-0c2f6b1d9e77","controller":true}}]}},"spec":{{"containers":[
        {{"name":"web","image":"{WRITTEN}","imagePullPolicy":"Always"}}],"initContainers":[
        {{"name":"init","image":"{WRITTEN}","imagePullPolicy":"Always"}}]}},
        "status":{{"containerStatuses":[{{"name":"web","imageID":"ghcr.io/example/web@sha256:{}"}}]}}}}}},
        "settings":{{"mutableTagAction":"pin","pinImmutableTags":true}}}}"#,
        "4".repeat(64)
    )
}

fuzz_target!(|data: &[u8]| {
    let host = Cluster {
        answer: data,
        registry: FuzzResolver { salt: 0 },
    };
    for audit in [false, true] {
        let payload = payload(audit);
        let answer = answer(payload.as_bytes(), &host);
        // `check_answer` checks that every change is a pin to a valid digest or Always.
        check_answer(payload.as_bytes(), &answer, &host.registry);
        let r = answer.read_back();
        if audit {
            assert!(r.mutated_object.is_none(), "an audit never mutates");
        }
    }
});
