use super::*;
use crate::registry::RegistryOptions;
use crate::vocabulary::Status;

fn verifier() -> Verifier {
    // No request reaches either: only the mapping of errors is tested here.
    let client =
        kube::Client::try_from(kube::Config::new("http://127.0.0.1:9".parse().unwrap())).unwrap();
    let registry = RegistryClient::new(RegistryOptions::default()).unwrap();
    Verifier::builder(client, registry).build()
}

fn paused(cause: PauseCause, secs: u64) -> RegistryError {
    RegistryError::Paused {
        registry: "docker.io".into(),
        detail: "its request budget (80 manifest GETs per 6h) is spent until then".into(),
        until: SystemTime::now() + Duration::from_secs(secs),
        cause,
    }
}

const D: &str = "sha256:aaaa";

#[tokio::test]
async fn a_spent_budget_is_an_overdue_verdict_audited_again_when_there_is_room() {
    let v = verifier();
    let Found::Scheduled(Outcome::Unknown { judgement, digest }, wait) =
        v.failed(&paused(PauseCause::Budget, 600), D, Instant::now())
    else {
        panic!("an overdue verdict is scheduled")
    };
    assert_eq!(
        judgement.status,
        Status::Unknown,
        "never the remembered verdict"
    );
    assert_eq!(judgement.reason, reasons::RECHECK_OVERDUE);
    assert!(
        judgement.message.contains("overdue") && judgement.message.contains("80 manifest GETs")
    );
    assert_eq!(
        digest.as_deref(),
        Some(D),
        "the last evidence of this digest is kept"
    );
    assert!(
        wait > Duration::from_secs(590) && wait <= Duration::from_secs(600),
        "{wait:?}"
    );
}

#[tokio::test]
async fn a_registry_that_asked_to_back_off_is_unavailable_until_its_pause_ends() {
    let v = verifier();
    let Found::Scheduled(Outcome::Unknown { judgement, .. }, wait) =
        v.failed(&paused(PauseCause::BackOff, 30), D, Instant::now())
    else {
        panic!("a pause is scheduled")
    };
    assert_eq!(
        (judgement.status, judgement.reason),
        (Status::Unknown, reasons::REGISTRY_UNAVAILABLE)
    );
    assert!(wait <= Duration::from_secs(30) && wait > Duration::from_secs(25));
    // A pause already over is tried again a second later, not in a loop.
    let Found::Scheduled(_, wait) = v.failed(&paused(PauseCause::BackOff, 0), D, Instant::now())
    else {
        panic!()
    };
    assert_eq!(wait, Duration::from_secs(1));
    // Any other fault is as before: Unknown, retried on the caller's backoff.
    let e = RegistryError::Unavailable {
        registry: "r".into(),
        detail: "reset".into(),
    };
    assert!(matches!(
        v.failed(&e, D, Instant::now()),
        Found::Outcome(Outcome::Unknown { .. })
    ));
}

#[test]
fn only_a_verdict_given_for_this_digest_is_a_recheck() {
    let given = SourceAuditStatus {
        digest: Some(D.into()),
        last_verified_time: Some(time(1_000)),
        ..SourceAuditStatus::default()
    };
    assert!(is_recheck(Some(&given), D));
    assert!(
        !is_recheck(Some(&given), "sha256:bbbb"),
        "a new revision goes first"
    );
    assert!(!is_recheck(None, D), "a new source goes first");
    let never_judged = SourceAuditStatus {
        last_verified_time: None,
        ..given
    };
    assert!(
        !is_recheck(Some(&never_judged), D),
        "a first check that failed is retried as one"
    );
}
