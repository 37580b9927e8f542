use super::*;

const TTL: Duration = Duration::from_secs(60);

fn key() -> SecretKey {
    ("security".to_string(), "keys".to_string())
}

fn found(version: &str, pem: &str) -> Found {
    Some((
        version.to_string(),
        Arc::new(SecretData::from([(
            "cosign.pub".to_string(),
            pem.as_bytes().to_vec(),
        )])),
    ))
}

/// The `cosign.pub` the cache answers with, `Some(None)` for a Secret known absent.
fn read(c: &SecretCache, at: Instant) -> Option<Option<String>> {
    c.get(&key(), at)
        .map(|d| d.map(|d| String::from_utf8(d["cosign.pub"].clone()).unwrap()))
}

fn s(x: &str) -> Option<Option<String>> {
    Some(Some(x.to_string()))
}

#[test]
fn a_get_is_usable_until_one_ttl_after_it_started_then_must_be_read_again() {
    let c = SecretCache::new(TTL);
    let t0 = Instant::now();
    assert_eq!(read(&c, t0), None, "nothing cached yet");
    assert!(c.insert(key(), t0, found("1", "old")));
    assert_eq!(read(&c, t0 + TTL - Duration::from_millis(1)), s("old"));
    assert_eq!(read(&c, t0 + TTL), None, "expired exactly one TTL later");
}

#[test]
fn the_poller_seeing_the_same_version_keeps_the_entry_usable() {
    let c = SecretCache::new(TTL);
    let t0 = Instant::now();
    c.insert(key(), t0, found("1", "old"));
    let poll = t0 + Duration::from_secs(50);
    c.observe(
        &key(),
        Some("1".into()),
        poll,
        poll + Duration::from_millis(5),
    );
    // Confirmed as of when the poll's read started, not when the GET did.
    assert_eq!(read(&c, t0 + TTL + Duration::from_secs(30)), s("old"));
    assert_eq!(read(&c, poll + TTL), None);
    assert_eq!(c.observed(&key()), Some(Some("1".into())));
}

#[test]
fn the_poller_seeing_another_version_drops_the_entry() {
    let c = SecretCache::new(TTL);
    let t0 = Instant::now();
    c.insert(key(), t0, found("1", "old"));
    let poll = t0 + Duration::from_secs(1);
    c.observe(&key(), Some("2".into()), poll, poll);
    assert_eq!(read(&c, poll), None, "the re-audits must read the new data");
    // And the Secret deleted: presence against absence is a change too.
    let t1 = poll + Duration::from_secs(1);
    c.insert(key(), t1, found("2", "new"));
    assert_eq!(read(&c, t1), s("new"));
    c.observe(&key(), None, t1, t1);
    assert_eq!(read(&c, t1), None);
}

#[test]
fn a_get_that_started_before_the_poller_saw_another_version_is_not_cached() {
    let c = SecretCache::new(TTL);
    let get_started = Instant::now();
    // The GET is in flight (it will answer version 1); the Secret is rotated, the poller reads
    // version 2, drops the entry and triggers re-audits; then the GET's answer arrives.
    let poll = get_started + Duration::from_millis(10);
    c.observe(&key(), Some("2".into()), poll, poll);
    assert!(!c.insert(key(), get_started, found("1", "old")));
    assert_eq!(
        read(&c, poll),
        None,
        "the stale answer must not serve the re-audits"
    );
    // The poll's read started before the GET but its answer (version 2) was recorded after the
    // GET started: the GET may still have been served the old version.
    let c = SecretCache::new(TTL);
    let poll_started = Instant::now();
    let get_started = poll_started + Duration::from_millis(1);
    c.observe(
        &key(),
        Some("2".into()),
        poll_started,
        get_started + Duration::from_millis(1),
    );
    assert!(!c.insert(key(), get_started, found("1", "old")));
    assert_eq!(read(&c, get_started), None);
    // A GET that started after the poller saw version 2 reads version 2 (or later): cached.
    let later = get_started + Duration::from_secs(1);
    assert!(c.insert(key(), later, found("2", "new")));
    assert_eq!(read(&c, later), s("new"));
}

#[test]
fn a_get_agreeing_with_the_poller_is_cached() {
    let c = SecretCache::new(TTL);
    let get_started = Instant::now();
    let poll = get_started + Duration::from_millis(10);
    c.observe(&key(), Some("1".into()), poll, poll);
    assert!(c.insert(key(), get_started, found("1", "same")));
    assert_eq!(read(&c, poll), s("same"));
}

#[test]
fn an_older_get_never_replaces_a_later_confirmation_of_another_version() {
    let c = SecretCache::new(TTL);
    let t0 = Instant::now();
    assert!(c.insert(key(), t0 + Duration::from_secs(2), found("2", "new")));
    assert!(!c.insert(key(), t0, found("1", "old")));
    assert_eq!(read(&c, t0 + Duration::from_secs(2)), s("new"));
}

#[test]
fn an_absent_secret_is_cached_as_absent() {
    let c = SecretCache::new(TTL);
    let t0 = Instant::now();
    assert!(c.insert(key(), t0, None));
    assert_eq!(read(&c, t0), Some(None), "known absent, no GET");
    // Confirmed absent by the poller.
    c.observe(
        &key(),
        None,
        t0 + Duration::from_secs(30),
        t0 + Duration::from_secs(30),
    );
    assert_eq!(read(&c, t0 + TTL), Some(None));
    // It appears: the absence is dropped.
    let t1 = t0 + Duration::from_secs(40);
    c.observe(&key(), Some("1".into()), t1, t1);
    assert_eq!(read(&c, t1), None);
}

#[test]
fn a_ttl_of_zero_caches_nothing() {
    let c = SecretCache::new(Duration::ZERO);
    let t0 = Instant::now();
    assert!(!c.insert(key(), t0, found("1", "old")));
    assert_eq!(read(&c, t0), None);
    c.observe(&key(), Some("1".into()), t0, t0);
    assert_eq!(read(&c, t0), None);
}

#[test]
fn a_sweep_forgets_what_is_no_longer_named_or_usable() {
    let c = SecretCache::new(TTL);
    let t0 = Instant::now();
    c.insert(key(), t0, found("1", "old"));
    c.observe(&key(), Some("1".into()), t0, t0);
    c.sweep(&BTreeSet::from([key()]), t0 + Duration::from_secs(1));
    assert_eq!(c.observed(&key()), Some(Some("1".into())));
    assert_eq!(read(&c, t0), s("old"));
    c.sweep(&BTreeSet::new(), t0 + TTL);
    assert_eq!(c.observed(&key()), None);
    assert_eq!(
        read(&c, t0),
        None,
        "expired entries are removed, not only hidden"
    );
}

#[test]
fn debug_never_prints_secret_data() {
    let c = SecretCache::new(TTL);
    c.insert(
        key(),
        Instant::now(),
        found("1", "-----BEGIN PUBLIC KEY----- sekrit"),
    );
    let printed = format!("{c:?}");
    assert!(printed.contains("entries: 1"), "{printed}");
    assert!(
        !printed.contains("sekrit") && !printed.contains("keys"),
        "{printed}"
    );
}
