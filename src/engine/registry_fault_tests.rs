//! Issue 9, items 3, 4, 14 and 15: faults, truncation and hostile size never become a definite
//! verdict. Each test drives the whole pipeline (`engine::verify_reference`) against a hostile
//! in-process registry holding real signatures from a private Sigstore, so "indeterminate" is
//! checked against the verdict the same store gives when nothing goes wrong.

use std::time::{Duration, Instant};

use sigstore_forge::{LeafSpec, PrivateSigstore, SignOptions};

use crate::engine::{verify_reference, IdentityRule, Policy, TrustRoot, Verdict};
use crate::registry::testserver::fixtures::*;
use crate::registry::testserver::{Reply, TestRequest, TestServer};
use crate::registry::*;

const ISSUER: &str = "https://token.actions.githubusercontent.com";
const WORKFLOW: &str = "https://github.com/org/repo/.github/workflows/release.yml@refs/heads/main";
const OTHER: &str = "https://github.com/evil/repo/.github/workflows/release.yml@refs/heads/main";

/// A private Sigstore, its trust root, and a policy accepting [`WORKFLOW`] only.
struct World {
    sigstore: PrivateSigstore,
    trust: TrustRoot,
    policy: Policy,
}

impl World {
    fn new() -> Self {
        let sigstore = PrivateSigstore::generate("faults").expect("private sigstore");
        let trust = TrustRoot::from_json("test", sigstore.trusted_root_json().as_bytes())
            .expect("trust root");
        let policy = Policy::Keyless {
            identities: vec![IdentityRule::new(
                &format!("^{}$", regex::escape(ISSUER)),
                &format!("^{}$", regex::escape(WORKFLOW)),
            )
            .expect("rule")],
        };
        World {
            sigstore,
            trust,
            policy,
        }
    }

    /// A genuine bundle over the fixture digest, signed by `identity`.
    fn bundle(&self, identity: &str) -> Vec<u8> {
        let leaf = self
            .sigstore
            .issue_leaf(&LeafSpec::uri(identity, ISSUER))
            .expect("leaf");
        self.sigstore
            .sign_bundle(&leaf, &digest(), &SignOptions::default())
            .expect("sign")
            .json
            .into_bytes()
    }

    async fn verdict(&self, client: &RegistryClient, srv: &TestServer) -> (Verdict, String) {
        let image: ImageRef = format!("{}/app@{}", srv.host, digest())
            .parse()
            .expect("reference");
        let r = within(verify_reference(client, &image, &self.policy, &self.trust)).await;
        (r.verdict, r.message)
    }
}

/// One referrer of a test store: the bundle it carries and what its blob endpoint answers.
struct Referrer {
    bundle: Vec<u8>,
    blob: Reply,
}

impl Referrer {
    fn good(bundle: &[u8]) -> Self {
        Referrer {
            bundle: bundle.to_vec(),
            blob: Reply::json(200, BUNDLE, bundle.to_vec()),
        }
    }
    fn answering(bundle: &[u8], blob: Reply) -> Self {
        Referrer {
            bundle: bundle.to_vec(),
            blob,
        }
    }
}

/// The manifest and blob routes of `referrers`, and their index entries.
fn referrer_routes(referrers: Vec<Referrer>) -> (Vec<(String, Reply)>, Vec<String>) {
    let (mut routes, mut entries) = (Vec::new(), Vec::new());
    for (i, r) in referrers.into_iter().enumerate() {
        // The annotation keeps manifests distinct even when two carry the same bundle.
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","artifactType":"{BUNDLE}","layers":[{{"mediaType":"{BUNDLE}","digest":"{}","size":{}}}],"annotations":{{"n":"{i}"}}}}"#,
            sha(&r.bundle),
            r.bundle.len()
        );
        let m = sha(manifest.as_bytes());
        entries.push(format!(
            r#"{{"mediaType":"{OCI_MANIFEST}","digest":"{m}","size":{},"artifactType":"{BUNDLE}"}}"#,
            manifest.len()
        ));
        routes.push((
            format!("/v2/app/manifests/{m}"),
            Reply::json(200, OCI_MANIFEST, manifest),
        ));
        routes.push((format!("/v2/app/blobs/{}", sha(&r.bundle)), r.blob));
    }
    (routes, entries)
}

fn index(entries: &[String]) -> String {
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{}]}}"#,
        entries.join(",")
    )
}

/// A registry with the referrers API listing `referrers` on one page, 404 elsewhere.
async fn store(referrers: Vec<Referrer>) -> TestServer {
    let (mut routes_, entries) = referrer_routes(referrers);
    routes_.push((
        referrers_path(),
        Reply::json(200, OCI_INDEX, index(&entries)),
    ));
    TestServer::start(routes(routes_, Reply::status(404))).await
}

// ---- Item 3: transport faults are RegistryUnavailable, never SignatureInvalid ----

/// A bundle blob cut short, reset mid-body, stalled past the timeout, or answered with bytes
/// that are not the digest's: on main the first, second and fourth were `SignatureInvalid`
/// (and cached as definite).
#[tokio::test]
async fn faults_reading_a_signature_are_registry_unavailable_never_signature_invalid() {
    let w = World::new();
    let theirs = w.bundle(OTHER);
    let half = theirs[..theirs.len() / 2].to_vec();
    let faults = [
        (
            "short body",
            Reply::Truncated {
                declared: theirs.len(),
                body: half.clone(),
            },
        ),
        (
            "reset",
            Reply::Reset {
                declared: theirs.len(),
                body: half.clone(),
            },
        ),
        (
            "stall",
            Reply::Stall {
                declared: theirs.len(),
                body: half,
            },
        ),
        (
            "wrong bytes for the digest",
            Reply::json(200, BUNDLE, w.bundle(OTHER)),
        ),
    ];
    let c = client_with(RegistryOptions {
        timeout: Duration::from_millis(500),
        ..Default::default()
    });
    for (name, fault) in faults {
        let srv = store(vec![Referrer::answering(&theirs, fault)]).await;
        let (v, msg) = w.verdict(&c, &srv).await;
        assert_eq!(v, Verdict::RegistryUnavailable, "{name}: {msg}");
    }
    // The control: the same store without the fault gives the definite verdict.
    let srv = store(vec![Referrer::good(&theirs)]).await;
    assert_eq!(w.verdict(&c, &srv).await.0, Verdict::IdentityMismatch);
}

// ---- Item 4: a list cut short is never Unsigned ----

/// Pages `0..pages` of a referrers list, each linking to the next; `bundle_on` (if any) is the
/// page whose only entry is the verifying signature.
async fn paged_store(w: &World, pages: usize, bundle_on: Option<usize>) -> TestServer {
    let ours = w.bundle(WORKFLOW);
    let (routes_, entries) = referrer_routes(vec![Referrer::good(&ours)]);
    let fixed: std::collections::HashMap<String, Reply> = routes_.into_iter().collect();
    TestServer::start(move |r: &TestRequest| {
        if r.path() != referrers_path() {
            return fixed.get(r.path()).cloned().unwrap_or(Reply::status(404));
        }
        let page: usize = r
            .target
            .split_once("?page=")
            .and_then(|(_, p)| p.parse().ok())
            .unwrap_or(0);
        let listed = if Some(page) == bundle_on {
            entries.clone()
        } else {
            vec![]
        };
        let reply = Reply::json(200, OCI_INDEX, index(&listed));
        if page + 1 < pages {
            let next = format!("<{}?page={}>; rel=\"next\"", referrers_path(), page + 1);
            reply.with_header("Link", &next)
        } else {
            reply
        }
    })
    .await
}

#[tokio::test]
async fn a_signature_past_the_last_referrers_page_is_indeterminate_never_unsigned() {
    let w = World::new();
    let c = client();
    let pages = discovery_limits::MAX_REFERRER_PAGES + 1;
    // The signature sits on the one page that is not read: on main, "Unsigned".
    let srv = paged_store(&w, pages, Some(pages - 1)).await;
    let d = within(c.discover(&srv.host, "app", &digest()))
        .await
        .expect("discover");
    assert!(d.bundles.is_empty(), "{d:?}");
    assert!(
        d.incomplete[0].detail.contains("more than 8 pages"),
        "{:?}",
        d.incomplete
    );
    let (v, msg) = w.verdict(&c, &srv).await;
    assert_eq!(v, Verdict::RegistryUnavailable, "{msg}");
    assert!(msg.contains("incomplete"), "{msg}");
    // Within the page limit the same signature is found and verifies.
    let srv = paged_store(&w, discovery_limits::MAX_REFERRER_PAGES, Some(7)).await;
    assert_eq!(w.verdict(&c, &srv).await.0, Verdict::Verified);
    // A list of 9 empty pages says nothing either: not "unsigned".
    let srv = paged_store(&w, pages, None).await;
    assert_eq!(w.verdict(&c, &srv).await.0, Verdict::RegistryUnavailable);
}

#[tokio::test]
async fn a_next_page_on_another_host_is_indeterminate_never_unsigned() {
    let w = World::new();
    let next = format!(
        "<https://elsewhere.example/v2/app/referrers/{}?page=2>; rel=\"next\"",
        digest()
    );
    let srv = TestServer::start(routes(
        vec![(
            referrers_path(),
            Reply::json(200, OCI_INDEX, index(&[])).with_header("Link", &next),
        )],
        Reply::status(404),
    ))
    .await;
    let c = client();
    let d = within(c.discover(&srv.host, "app", &digest()))
        .await
        .expect("discover");
    assert!(
        d.incomplete[0].detail.contains("another host"),
        "{:?}",
        d.incomplete
    );
    assert!(!srv.request_lines().iter().any(|l| l.contains("page=2")));
    assert_eq!(w.verdict(&c, &srv).await.0, Verdict::RegistryUnavailable);
}

/// More signature objects than are read in one place: on main, the 64 broken ones read made it
/// `SignatureInvalid`, though the 65th verifies.
#[tokio::test]
async fn objects_beyond_the_per_place_limit_leave_the_verdict_indeterminate() {
    let w = World::new();
    let mut referrers: Vec<Referrer> = (0..discovery_limits::MAX_SIGNATURES_PER_PLACE)
        .map(|i| Referrer::good(format!("{{\"broken\":{i}}}").as_bytes()))
        .collect();
    referrers.push(Referrer::good(&w.bundle(WORKFLOW)));
    let srv = store(referrers).await;
    let (v, msg) = w.verdict(&client(), &srv).await;
    assert_eq!(v, Verdict::RegistryUnavailable, "{msg}");
    assert!(msg.contains("only the first 64 were read"), "{msg}");
}

/// The rule for incomplete discoveries: a verifying signature among what was read is
/// conclusive; anything else (here a foreign signer, which alone is `IdentityMismatch`) is not.
#[tokio::test]
async fn an_incomplete_discovery_verifies_only_on_a_verifying_signature() {
    let w = World::new();
    let garbled = Reply::json(200, BUNDLE, "not the bundle");
    let unread = || Referrer::answering(b"{\"unread\":1}", garbled.clone());
    let srv = store(vec![unread(), Referrer::good(&w.bundle(WORKFLOW))]).await;
    assert_eq!(w.verdict(&client(), &srv).await.0, Verdict::Verified);
    let srv = store(vec![unread(), Referrer::good(&w.bundle(OTHER))]).await;
    let (v, msg) = w.verdict(&client(), &srv).await;
    assert_eq!(v, Verdict::RegistryUnavailable, "{msg}");
    assert!(msg.contains("incomplete"), "{msg}");
}

// ---- Item 14: a byte budget and a deadline per discovery ----

#[tokio::test]
async fn a_discovery_stops_at_its_byte_budget_and_is_indeterminate() {
    let w = World::new();
    // 20 referrers of 64 KiB each (1.25 MiB) against a 256 KiB budget; the verifying one last.
    let mut referrers: Vec<Referrer> = (0..20)
        .map(|i| {
            let mut junk = format!("{{\"junk\":{i},\"pad\":\"").into_bytes();
            junk.resize(64 << 10, b'x');
            junk.extend_from_slice(b"\"}");
            Referrer::good(&junk)
        })
        .collect();
    referrers.push(Referrer::good(&w.bundle(WORKFLOW)));
    let srv = store(referrers).await;
    let c = client_with(RegistryOptions {
        timeout: Duration::from_secs(5),
        discovery_byte_budget: 256 << 10,
        ..Default::default()
    });
    let d = within(c.discover(&srv.host, "app", &digest()))
        .await
        .expect("discover");
    let read: usize = d.bundles.iter().map(|b| b.bytes.len()).sum();
    assert!(read <= 256 << 10, "{read} bytes of bundles read");
    assert!(
        d.incomplete.iter().any(|u| u.detail.contains("budget")),
        "{:?}",
        d.incomplete
    );
    let (v, msg) = w.verdict(&c, &srv).await;
    assert_eq!(v, Verdict::RegistryUnavailable, "{msg}");
    // The default budget reads them all.
    assert_eq!(w.verdict(&client(), &srv).await.0, Verdict::Verified);
}

#[tokio::test]
async fn a_discovery_past_its_deadline_is_indeterminate() {
    let w = World::new();
    // The `.sig` tag never answers; the per-request timeout (5 s) is far away, the discovery's
    // deadline is not.
    let srv = TestServer::start(routes(vec![(sig_path(), Reply::Hang)], Reply::status(404))).await;
    let c = client_with(RegistryOptions {
        timeout: Duration::from_secs(5),
        discovery_deadline: Duration::from_millis(400),
        ..Default::default()
    });
    let started = Instant::now();
    let err = within(c.discover(&srv.host, "app", &digest()))
        .await
        .expect_err("deadline");
    assert!(
        matches!(&err, RegistryError::Limit { detail, .. } if detail.contains("did not finish")),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(w.verdict(&c, &srv).await.0, Verdict::RegistryUnavailable);
}

// ---- Item 15: a hung registry does not delay a healthy one ----

#[tokio::test]
async fn a_hung_registry_does_not_delay_discoveries_on_a_healthy_one() {
    let hung = TestServer::start(|_: &TestRequest| Reply::Hang).await;
    let healthy = TestServer::start(routes(vec![], Reply::status(404))).await;
    let c = client_with(RegistryOptions {
        timeout: Duration::from_secs(10),
        ..Default::default()
    });
    // The first discovery on the hung registry probes its referrers API and waits there.
    let stuck = tokio::spawn({
        let (c, host) = (c.clone(), hung.host.clone());
        async move { c.discover(&host, "app", &digest()).await }
    });
    within(async {
        while !hung
            .request_lines()
            .iter()
            .any(|l| l.contains("/referrers/"))
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    // Meanwhile discoveries on the healthy registry, first probe included, go straight through.
    let started = Instant::now();
    for _ in 0..2 {
        let d = tokio::time::timeout(
            Duration::from_secs(3),
            c.discover(&healthy.host, "app", &digest()),
        )
        .await
        .expect("the healthy registry waited for the hung one")
        .expect("discover");
        assert!(d.is_empty());
    }
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(!stuck.is_finished());
    stuck.abort();
}

/// The gate still does its job on one registry: concurrent first discoveries share one probe.
#[tokio::test]
async fn concurrent_first_discoveries_on_one_registry_probe_once() {
    let srv = TestServer::start(routes(vec![], Reply::status(404))).await;
    let (c, d) = (client(), digest());
    let all =
        futures::future::join_all((0..4).map(|_| within(c.discover(&srv.host, "app", &d)))).await;
    assert!(all
        .iter()
        .all(|d| d.as_ref().is_ok_and(Discovery::is_empty)));
    let probes = srv
        .request_lines()
        .iter()
        .filter(|l| l.contains("/referrers/"))
        .count();
    // One probe, plus the re-check each empty result makes on a registry without the API.
    assert_eq!(probes, 1 + 3, "{:?}", srv.request_lines());
}
