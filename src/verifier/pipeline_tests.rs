//! The pipeline against a stand-in Kubernetes API server (plain HTTP on loopback) whose answers
//! each test chooses: a failed namespace read never drops a policy.

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::*;
use crate::api::SourceAuditStatus;
use crate::audit::fixtures;
use crate::registry::RegistryOptions;
use crate::vocabulary::types;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::Client;

/// Serves `answer(method, path) -> (status, json body)` until the test ends; returns its URL.
async fn api_server(answer: fn(&str, &str) -> (u16, String)) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // GET requests only: the head is the whole request.
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf);
                let mut first = head.lines().next().unwrap_or_default().split(' ');
                let (method, target) = (first.next().unwrap_or(""), first.next().unwrap_or(""));
                let (status, body) = answer(method, target.split('?').next().unwrap_or(""));
                let reply = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(reply.as_bytes()).await;
            });
        }
    });
    url
}

fn status_body(code: u16, reason: &str) -> String {
    serde_json::json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": format!("{reason} (stand-in API server)"), "reason": reason, "code": code,
    })
    .to_string()
}

/// Namespaces are forbidden; the policies' key Secrets exist (the platform's and the tenant's:
/// both hold key A), nothing else does.
fn namespaces_forbidden(_: &str, path: &str) -> (u16, String) {
    if path.starts_with("/api/v1/namespaces/") && path.matches('/').count() == 4 {
        return (403, status_body(403, "Forbidden"));
    }
    let key_secret = |ns: &str, name: &str| {
        use base64::Engine as _;
        let pem = base64::engine::general_purpose::STANDARD.encode(fixtures::KEY_A);
        serde_json::json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": ns},
            "data": {"cosign.pub": pem},
        })
        .to_string()
    };
    match path {
        "/api/v1/namespaces/platform/secrets/platform-key" => {
            (200, key_secret("platform", "platform-key"))
        }
        "/api/v1/namespaces/apps/secrets/cosign-pub" => (200, key_secret("apps", "cosign-pub")),
        _ => (404, status_body(404, "NotFound")),
    }
}

/// Nothing exists, namespaces included.
fn nothing_exists(_: &str, _: &str) -> (u16, String) {
    (404, status_body(404, "NotFound"))
}

async fn client(url: &str) -> Client {
    Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap()
}

/// The tenant's source carries its own `spec.verify` (the tenant's key); the platform's policy
/// applies to its namespace by label.
fn policies() -> Vec<(String, ProvenancePolicySpec)> {
    vec![(
        "platform".to_string(),
        fixtures::policy(
            "match: {namespaceSelector: {matchLabels: {team: web}}}\n\
             verify: {provider: cosign, secretRef: {namespace: platform, name: platform-key}}\n",
        ),
    )]
}

#[tokio::test]
async fn an_unreadable_namespace_makes_the_verdict_unknown_never_a_smaller_policy_set() {
    let url = api_server(namespaces_forbidden).await;
    let client = client(&url).await;
    let registry = RegistryClient::new(RegistryOptions::default()).unwrap();
    let verifier = Verifier::builder(client, registry).build();
    let source = fixtures::source(&fixtures::oci_repository());
    let policies = PolicySet::from(policies());
    assert!(needs_namespace_labels(&policies));
    let labels = verifier.namespace_labels(&source.namespace).await;
    let why = labels.expect_err("a forbidden namespace read is an error, not empty labels");
    let judged = verifier
        .judge(&source, &policies, &Err(why), None, None)
        .await
        .unwrap();
    let verified = judged.status.condition(types::VERIFIED).unwrap();
    assert_eq!(
        (verified.status.as_str(), verified.reason.as_str()),
        ("Unknown", reasons::INPUT_UNAVAILABLE),
        "{verified:?}"
    );
    // The policy that may apply is reported, not dropped in favour of the tenant's own key.
    assert!(
        judged.status.policies.contains(&"platform".to_string()),
        "{:?}",
        judged.status.policies
    );
    assert!(judged.recheck_in.is_none());
}

/// A policy that does not parse may match any source: no verdict from the ones that parse.
#[tokio::test]
async fn an_unreadable_policy_makes_every_verdict_unknown_never_a_smaller_policy_set() {
    let url = api_server(namespaces_forbidden).await;
    let client = client(&url).await;
    let registry = RegistryClient::new(RegistryOptions::default()).unwrap();
    let verifier = Verifier::builder(client, registry).build();
    let source = fixtures::source(&fixtures::oci_repository());
    let policies = PolicySet::new(
        policies(),
        [("broken".to_string(), "missing field `verify`".to_string())],
    );
    let labels = Ok([("team".to_string(), "web".to_string())].into());
    let judged = verifier
        .judge(&source, &policies, &labels, None, None)
        .await
        .unwrap();
    let verified = judged.status.condition(types::VERIFIED).unwrap();
    assert_eq!(
        (verified.status.as_str(), verified.reason.as_str()),
        ("Unknown", reasons::INPUT_UNAVAILABLE),
        "{verified:?}"
    );
    assert!(
        verified
            .message
            .contains("ProvenancePolicy broken cannot be read"),
        "{}",
        verified.message
    );
    // The readable policy that applies is still named.
    assert!(
        judged.status.policies.contains(&"platform".to_string()),
        "{:?}",
        judged.status.policies
    );
    assert!(judged.recheck_in.is_none());
    // Once it is fixed (read), the same source gets a definite answer again: nothing stuck.
    let fixed = PolicySet::from(policies.to_vec());
    let judged = verifier
        .judge(&source, &fixed, &labels, None, None)
        .await
        .unwrap();
    let verified = judged.status.condition(types::VERIFIED).unwrap();
    assert_ne!(
        verified.reason.as_str(),
        reasons::INPUT_UNAVAILABLE,
        "{verified:?}"
    );
}

#[tokio::test]
async fn a_namespace_that_does_not_exist_is_not_a_read_error() {
    let url = api_server(nothing_exists).await;
    let client = client(&url).await;
    let registry = RegistryClient::new(RegistryOptions::default()).unwrap();
    let verifier = Verifier::builder(client, registry).build();
    assert_eq!(verifier.namespace_labels("gone").await, Ok(None));
}

fn condition(type_: &str, status: &str, reason: &str, at: i64) -> Condition {
    Condition {
        type_: type_.into(),
        status: status.into(),
        reason: reason.into(),
        message: String::new(),
        observed_generation: None,
        last_transition_time: time(at),
    }
}

fn cache_test_key() -> VerdictCacheKey {
    VerdictCacheKey {
        registry: "r".into(),
        repository: "apps/app".into(),
        digest: "sha256:aa".into(),
        policy_fingerprint: "p".into(),
        trust_root_fingerprint: "t".into(),
    }
}

const IV: Intervals = Intervals {
    resync: Duration::from_secs(600),
    reverify: Duration::from_secs(3600),
    first_recheck: crate::verifier::schedule::FIRST_RECHECK,
};

/// A status checked at 1,000 with `Verified` and `Attested` as given (both since 1,000).
fn checked_status(verified: (&str, &str), attested: (&str, &str)) -> SourceAuditStatus {
    SourceAuditStatus {
        conditions: vec![
            condition(types::VERIFIED, verified.0, verified.1, 1_000),
            condition(types::ATTESTED, attested.0, attested.1, 1_000),
        ],
        last_verified_time: Some(time(1_000)),
        verdict_cache: Some(cache_test_key()),
        ..SourceAuditStatus::default()
    }
}

const NOT_REQUIRED: (&str, &str) = ("True", "NotRequired");

#[test]
fn a_previous_status_stands_in_only_for_the_same_key_until_its_recheck() {
    let key = cache_test_key();
    let verified = checked_status(("True", "Verified"), NOT_REQUIRED);
    // Until its slot of the interval (see `pacing`), never past the interval.
    let due = crate::verifier::pacing::next_check(&key, true, 1_000, 1_000, IV);
    assert!(due > 1_000 && due <= 4_600, "{due}");
    assert_eq!(
        still_fresh(&verified, &key, due - 5, IV),
        Some(Duration::from_secs(5))
    );
    assert_eq!(
        still_fresh(&verified, &key, due, IV),
        None,
        "at its re-check"
    );
    assert_eq!(
        still_fresh(&verified, &key, 4_600, IV),
        None,
        "past its interval"
    );
    let mut mirror = key.clone();
    mirror.repository = "apps/mirror".into();
    assert_eq!(
        still_fresh(&verified, &mirror, 1_001, IV),
        None,
        "another key"
    );
    let unsigned = checked_status(("False", "Unsigned"), NOT_REQUIRED);
    let due = crate::verifier::pacing::next_check(&key, false, 1_000, 1_000, IV);
    assert!((1_054..=1_060).contains(&due), "{due}");
    assert_eq!(
        still_fresh(&unsigned, &key, 1_030, IV),
        Some(Duration::from_secs((due - 1_030) as u64))
    );
    assert_eq!(
        still_fresh(&unsigned, &key, 1_060, IV),
        None,
        "a minute later"
    );
    let unknown = checked_status(("Unknown", "RegistryUnavailable"), NOT_REQUIRED);
    assert_eq!(still_fresh(&unknown, &key, 1_001, IV), None);
}

#[test]
fn a_previous_status_with_an_unknown_or_absent_attested_never_stands_in() {
    let key = cache_test_key();
    // Signatures verified, the `.att` tag answered 503: re-verified after a restart at once.
    let unknown = checked_status(("True", "Verified"), ("Unknown", "RegistryUnavailable"));
    assert_eq!(still_fresh(&unknown, &key, 1_001, IV), None);
    // A status of an older version, without `Attested`: not definite either.
    let mut older = checked_status(("True", "Verified"), NOT_REQUIRED);
    older.conditions.retain(|c| c.type_ == types::VERIFIED);
    assert_eq!(still_fresh(&older, &key, 1_001, IV), None);
}

#[test]
fn a_previous_attested_false_stands_in_only_for_the_first_minute_of_its_backoff() {
    let key = cache_test_key();
    let missing = checked_status(("True", "Verified"), ("False", "AttestationMissing"));
    // A negative backoff, at its jittered point of the minute (see `pacing`).
    let due = crate::verifier::pacing::next_check(&key, false, 1_000, 1_000, IV);
    assert!((1_054..=1_060).contains(&due), "{due}");
    assert_eq!(
        still_fresh(&missing, &key, 1_030, IV),
        Some(Duration::from_secs((due - 1_030) as u64))
    );
    assert_eq!(still_fresh(&missing, &key, 1_060, IV), None);
    let attested = checked_status(("True", "Verified"), ("True", "Attested"));
    // A result that holds waits for its slot of the interval.
    let due = crate::verifier::pacing::next_check(&key, true, 1_000, 1_000, IV);
    assert!((1_036..=4_600).contains(&due), "{due}");
    assert_eq!(
        still_fresh(&attested, &key, 1_030, IV),
        Some(Duration::from_secs((due - 1_030) as u64))
    );
    assert_eq!(still_fresh(&attested, &key, 4_600, IV), None);
    // The backoff counts from the later of the two transitions: `Attested` turned False at
    // 1,000 while `Verified` has held since 0.
    let mut later = missing.clone();
    later.conditions[0].last_transition_time = time(0);
    assert_eq!(still_fresh(&later, &key, 1_060, IV), None);
}
