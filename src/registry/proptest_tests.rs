//! Hostile-input properties of every parser in the registry module that reads registry or
//! cluster input: image references, `WWW-Authenticate` challenges, Docker configs, OCI manifests
//! and indexes (referrer lists), `Link` headers, token responses, and the simple-signing payload
//! writer. For each: no panic, and output bounded (error messages have a fixed ceiling whatever
//! the input size; parsed values are never larger than the input). Docker-config errors, in
//! addition, never contain any of the input's text.
//!
//! Case counts are per `make test` (15–30 thousand per property, about 155,000 in all, some 25 s
//! of CPU in a debug build: the generators are optimised, see Cargo.toml); `make fuzz` multiplies
//! them by `PA_FUZZ_SCALE`, and `PROPTEST_CASES` sets them outright.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::auth::parse_token_response;
use super::challenge::parse_challenges;
use super::docker_config::DockerConfig;
use super::legacy::simple_signing_payload;
use super::manifest::{is_sigstore_bundle_media_type, parse_index, parse_manifest};
use super::next_link::{parse_next, Next};
use super::reference::ImageRef;

/// Longest error text any of these parsers may produce, whatever the input.
const MAX_ERROR_BYTES: usize = 4096;

/// `base` cases, times `PA_FUZZ_SCALE` (set by `make fuzz`), or exactly `PROPTEST_CASES` when
/// that is set; no regression files in the tree.
fn config(base: u32) -> ProptestConfig {
    let env = |k: &str| std::env::var(k).ok().and_then(|s| s.parse::<u32>().ok());
    let cases = env("PROPTEST_CASES")
        .unwrap_or_else(|| base.saturating_mul(env("PA_FUZZ_SCALE").unwrap_or(1).max(1)));
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Any short text.
fn any_text() -> impl Strategy<Value = String> {
    ".{0,64}"
}

/// Text of 1k to 50k characters (a short random piece repeated, which is cheap to make), for
/// the properties about size: limits and truncation.
fn huge_text() -> impl Strategy<Value = String> {
    (".{0,16}", ".{1,8}", 1_000usize..50_000, ".{0,16}").prop_map(|(head, piece, n, tail)| {
        format!("{head}{}{tail}", piece.repeat(n / piece.len() + 1))
    })
}

/// Strings drawn from `vocabulary` or made up.
fn word(vocabulary: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        2 => prop::sample::select(vocabulary).prop_map(str::to_string),
        1 => ".{0,24}",
    ]
}

/// A JSON document whose keys and string values come mostly from `vocabulary`.
fn json_from(vocabulary: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        word(vocabulary).prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 96, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((word(vocabulary), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// JSON text of a document from `vocabulary`, or arbitrary bytes, or JSON cut short.
fn json_bytes(vocabulary: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => json_from(vocabulary).prop_map(|v| v.to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..512),
        1 => (json_from(vocabulary), any::<prop::sample::Index>()).prop_map(|(v, i)| {
            let mut b = v.to_string().into_bytes();
            b.truncate(i.index(b.len() + 1));
            b
        }),
    ]
}

const MANIFEST_WORDS: &[&str] = &[
    "schemaVersion",
    "mediaType",
    "manifests",
    "layers",
    "config",
    "digest",
    "size",
    "artifactType",
    "annotations",
    "subject",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.dev.sigstore.bundle.v0.3+json",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
    "dev.cosignproject.cosign/signature",
    "dev.sigstore.cosign/certificate",
    "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "sha256:../../etc/passwd",
];

proptest! {
    #![proptest_config(config(20_000))]

    #[test]
    fn image_references_parse_without_panic_round_trip_and_bound_errors(
        input in prop_oneof![
            3 => "(oci://)?[a-zA-Z0-9.:\\[\\]-]{0,24}(/[a-zA-Z0-9._-]{0,12}){0,4}(:[a-zA-Z0-9._-]{0,12})?(@sha256:[0-9a-fA-F]{0,66})?",
            1 => any_text(),
        ]
    ) {
        match input.parse::<ImageRef>() {
            Ok(r) => {
                prop_assert!(r.registry.len() + r.repository.len() <= input.len());
                let again: ImageRef = r.to_string().parse().expect("a parsed reference re-parses");
                prop_assert_eq!(again, r);
            }
            Err(e) => prop_assert!(e.to_string().len() <= MAX_ERROR_BYTES, "{} bytes", e.to_string().len()),
        }
    }

}

proptest! {
    #![proptest_config(config(20_000))]

    #[test]
    fn manifests_and_indexes_parse_without_panic_and_bound_errors(bytes in json_bytes(MANIFEST_WORDS)) {
        for result in [
            parse_index(&bytes).map(|i| i.manifests.len()),
            parse_manifest(&bytes).map(|m| m.layers.len()),
        ] {
            match result {
                Ok(n) => prop_assert!(n <= bytes.len()),
                Err(e) => prop_assert!(e.len() <= MAX_ERROR_BYTES, "{} bytes: {}", e.len(), &e[..200.min(e.len())]),
            }
        }
    }

    #[test]
    fn token_responses_parse_without_panic_and_never_echo(
        bytes in json_bytes(&["token", "access_token", "expires_in", "issued_at", "refresh_token"])
    ) {
        if let Err(e) = parse_token_response(&bytes) {
            prop_assert!(e.len() <= 100, "{e}");
        }
    }

    #[test]
    fn simple_signing_payloads_are_json_naming_exactly_the_artifact(
        registry in any_text(),
        repository in prop_oneof![4 => any_text(), 1 => r#"[<>&"\\\x{2028}\x{2029}\x00-\x1fa-z/]{0,32}"#],
        digest in any_text(),
    ) {
        let payload = simple_signing_payload(&registry, &repository, &digest);
        let v: Value = serde_json::from_slice(&payload).expect("the payload is JSON");
        let name = format!("{registry}/{repository}");
        prop_assert_eq!(
            v["critical"]["identity"]["docker-reference"].as_str(),
            Some(name.as_str())
        );
        prop_assert_eq!(v["critical"]["image"]["docker-manifest-digest"].as_str(), Some(digest.as_str()));
    }
}

proptest! {
    #![proptest_config(config(30_000))]

    #[test]
    fn media_type_checks_never_panic(m in word(MANIFEST_WORDS)) {
        let _ = is_sigstore_bundle_media_type(&m);
    }
}

proptest! {
    #![proptest_config(config(15_000))]

    #[test]
    fn link_headers_parse_without_panic_and_stay_on_the_registry(
        link in prop_oneof![
            3 => "(<(https?://(127\\.0\\.0\\.1:5000|other\\.example)|)(/v2/)?[a-z/:?=&.%0-9]{0,30}>|[^,;]{0,20}) ?; ?(rel=\"?(next|prev)\"?|[a-z=\"]{0,10})(, ?<[^>]{0,20}>; rel=next)?",
            1 => any_text(),
        ]
    ) {
        let base = reqwest::Url::parse("http://127.0.0.1:5000/v2/app/referrers/sha256:ab").expect("url");
        if let Some(Next::Follow(path)) = parse_next(&link, &base) {
            // Whatever is followed is a path on this registry, under /v2/.
            let url = base.join(&format!("/v2/{path}")).expect("followable path is a URL");
            prop_assert_eq!(url.host_str(), Some("127.0.0.1"));
            prop_assert_eq!(url.port(), Some(5000));
            prop_assert!(url.path().starts_with("/v2/"));
        }
    }

    #[test]
    fn challenges_parse_without_panic_and_never_grow(
        header in prop_oneof![
            3 => prop::collection::vec(
                prop_oneof![
                    "(Bearer|Basic|bearer|[A-Za-z]{0,6})",
                    "[a-z]{0,8}=\"([^\"\\\\]|\\\\.){0,24}\"?",
                    "[a-z]{0,8}=[^,\" ]{0,16}",
                    "[ ,=\"\\\\]{0,3}",
                ],
                0..12,
            ).prop_map(|parts| parts.join(" ")),
            1 => any_text(),
        ]
    ) {
        let parsed = parse_challenges(&header);
        let out: usize = parsed
            .iter()
            .map(|c| c.scheme.len() + c.params.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>())
            .sum();
        prop_assert!(out <= header.len(), "{out} > {}", header.len());
        prop_assert!(parsed.len() <= header.len());
    }
}

/// A manifest-shaped document with one huge string in a random place.
fn huge_json(vocabulary: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    (
        json_from(vocabulary),
        huge_text(),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(mut v, big, at)| {
            fn plant(v: &mut Value, big: &str, mut at: usize) {
                match v {
                    Value::Object(o) if !o.is_empty() => {
                        let n = o.len();
                        let (_, child) = o.iter_mut().nth(at % n).expect("in range");
                        at /= n;
                        if at.is_multiple_of(2) {
                            *child = Value::String(big.to_string());
                        } else {
                            plant(child, big, at / 2);
                        }
                    }
                    Value::Array(a) if !a.is_empty() => {
                        let n = a.len();
                        plant(&mut a[at % n], big, at / n);
                    }
                    _ => *v = Value::String(big.to_string()),
                }
            }
            plant(&mut v, &big, at.index(usize::MAX));
            v.to_string().into_bytes()
        })
}

proptest! {
    #![proptest_config(config(200))]

    /// Size is where echoing goes wrong: with 1k–50k characters of input, every error stays
    /// under the same ceiling as with short input.
    #[test]
    fn huge_inputs_give_errors_of_bounded_size(
        text in huge_text(),
        manifest in huge_json(MANIFEST_WORDS),
        config_json in huge_json(DOCKER_WORDS),
    ) {
        let too_long = |e: &str| e.len() > MAX_ERROR_BYTES;
        if let Err(e) = text.parse::<ImageRef>() {
            prop_assert!(!too_long(&e.to_string()), "reference: {} bytes", e.to_string().len());
        }
        for input in [text.as_bytes(), &manifest] {
            if let Err(e) = parse_index(input) {
                prop_assert!(!too_long(&e), "index: {} bytes", e.len());
            }
            if let Err(e) = parse_manifest(input) {
                prop_assert!(!too_long(&e), "manifest: {} bytes", e.len());
            }
        }
        for input in [text.as_bytes(), &config_json] {
            for parsed in [DockerConfig::from_json(input), DockerConfig::from_dockercfg(input)] {
                if let Err(e) = parsed {
                    prop_assert!(e.to_string().len() <= 400, "docker config: {}", e.to_string().len());
                }
            }
        }
        let out: usize = parse_challenges(&text)
            .iter()
            .map(|c| c.scheme.len() + c.params.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>())
            .sum();
        prop_assert!(out <= text.len());
        if let Err(e) = parse_token_response(text.as_bytes()) {
            prop_assert!(e.len() <= 100);
        }
    }
}

/// A credential that must never appear in any error text, and pieces of it.
const SECRET: &str = "c2VjcmV0LXVzZXI6aHVudGVyMi1wYXNzd29yZA";
const DOCKER_WORDS: &[&str] = &[
    "auths",
    "auth",
    "username",
    "password",
    "identitytoken",
    "email",
    "credsStore",
    "r.example.com",
    "https://index.docker.io/v1/",
    "localhost:5000",
    SECRET,
    "c2VjcmV0LXVzZXI6aHVudGVyMi1wYXNzd29yZA==",
    "user:c2VjcmV0LXVzZXI6aHVudGVyMi1wYXNzd29yZA",
];

/// Docker configs built around the shapes the parser walks, with the secret planted anywhere.
fn docker_config_bytes() -> impl Strategy<Value = Vec<u8>> {
    let auths = || {
        prop::collection::vec((word(DOCKER_WORDS), json_from(DOCKER_WORDS)), 0..6)
            .prop_map(|kv| Value::Object(kv.into_iter().collect()))
    };
    prop_oneof![
        2 => auths().prop_map(|a| json!({ "auths": a }).to_string().into_bytes()),
        2 => auths().prop_map(|a| a.to_string().into_bytes()),
        1 => json_bytes(DOCKER_WORDS),
    ]
}

proptest! {
    #![proptest_config(config(15_000))]

    #[test]
    fn docker_config_errors_never_contain_input_text(bytes in docker_config_bytes()) {
        for parsed in [DockerConfig::from_json(&bytes), DockerConfig::from_dockercfg(&bytes)] {
            match parsed {
                Ok(_) => {}
                Err(e) => {
                    let e = e.to_string();
                    prop_assert!(!e.contains("c2VjcmV0") && !e.contains("hunter2"), "{e}");
                    prop_assert!(e.len() <= 400, "{} bytes", e.len());
                }
            }
        }
    }
}
