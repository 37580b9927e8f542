use super::*;

const IV: Intervals = Intervals {
    resync: Duration::from_secs(600),
    reverify: Duration::from_secs(3600),
    first_recheck: crate::verifier::schedule::FIRST_RECHECK,
};

fn key(n: u32) -> VerdictCacheKey {
    VerdictCacheKey {
        registry: "registry.example".into(),
        repository: format!("app{n}"),
        digest: format!("sha256:{:064x}", n),
        policy_fingerprint: "sha256:p".into(),
        trust_root_fingerprint: "sha256:r".into(),
    }
}

/// The largest share of `times` in any window of 1 % of `interval` (sliding by a second).
fn densest_percent(times: &[i64], from: i64, interval: i64) -> f64 {
    let width = interval / 100;
    let most = (from..from + interval)
        .map(|start| {
            times
                .iter()
                .filter(|t| **t >= start && **t < start + width)
                .count()
        })
        .max()
        .unwrap_or(0);
    100.0 * most as f64 / times.len() as f64
}

#[test]
fn a_held_verdict_is_rechecked_within_its_interval_at_its_own_slot() {
    for n in 0..500 {
        let k = key(n);
        for checked in [0, 17, 3_599, 86_400 + 5] {
            let next = next_check(&k, true, 0, checked, IV);
            assert!(
                next > checked && next <= checked + 3600,
                "{n}: {checked} -> {next}"
            );
            assert!(next - checked >= 36, "at least 1 % of the interval later");
        }
        // From its slot on, exactly once per interval.
        let slot = next_check(&k, true, 0, 0, IV);
        assert_eq!(next_check(&k, true, 0, slot, IV), slot + 3600);
        assert_eq!(next_check(&k, true, 0, slot + 3600, IV), slot + 7200);
    }
}

#[test]
fn verdicts_checked_together_are_rechecked_spread_over_the_interval() {
    // 10,000 verdicts first checked within the same 10 s (a first audit, a restart).
    let times: Vec<i64> = (0..10_000)
        .map(|n| next_check(&key(n), true, 0, i64::from(n % 10), IV))
        .collect();
    let densest = densest_percent(&times, 0, 3600);
    assert!(
        densest <= 5.0,
        "{densest:.2}% of the re-checks in 1% of the interval"
    );
    // And every later round the same.
    let again: Vec<i64> = times
        .iter()
        .zip(0..)
        .map(|(t, n)| next_check(&key(n), true, 0, *t, IV))
        .collect();
    assert!(densest_percent(&again, 3600, 3600) <= 5.0);
    // Without the phase they would all have come in those 10 s.
    let plain: Vec<i64> = (0..10_000)
        .map(|n| schedule::next_check(true, 0, i64::from(n % 10), IV))
        .collect();
    assert!(densest_percent(&plain, 0, 3600) > 99.0);
}

#[test]
fn phases_are_stable_and_differ_by_key() {
    assert_eq!(phase(&key(1)), phase(&key(1)));
    let mut other = key(1);
    other.policy_fingerprint = "sha256:q".into();
    assert_ne!(phase(&key(1)), phase(&other), "a new policy is a new slot");
    let distinct: std::collections::BTreeSet<u64> = (0..1000).map(|n| phase(&key(n))).collect();
    assert!(distinct.len() > 990);
}

#[test]
fn a_negative_verdicts_backoff_comes_at_most_a_tenth_early_never_late() {
    for n in 0..200 {
        for (since, checked) in [(0, 0), (0, 60), (0, 600), (100, 7_300)] {
            let plain = schedule::next_check(false, since, checked, IV);
            let next = next_check(&key(n), false, since, checked, IV);
            let delay = plain - checked;
            assert!(next <= plain && next > checked, "{n}");
            assert!(
                next - checked >= delay - delay / 10,
                "{n}: {next} vs {plain}"
            );
        }
    }
}

#[test]
fn due_agrees_with_the_slot_and_a_future_check_is_due() {
    let k = key(7);
    let next = next_check(&k, true, 0, 100, IV);
    assert!(!is_due(&k, true, 0, 100, next - 1, IV));
    assert!(is_due(&k, true, 0, 100, next, IV));
    assert_eq!(
        due_in(&k, true, 0, 100, next - 5, IV),
        Duration::from_secs(5)
    );
    assert_eq!(due_in(&k, true, 0, 100, next, IV), Duration::ZERO);
    assert!(is_due(&k, true, 0, 1_000, 10, IV));
}

#[test]
fn a_burst_of_rechecks_gets_turns_at_the_rate_each_turn_given_once() {
    let pacer = Pacer::new(10, 5);
    let t0 = Instant::now();
    let waits: Vec<Option<Duration>> = (0..25)
        .map(|n| pacer.admit("r.example", &key(n), t0))
        .collect();
    let now_count = waits.iter().filter(|w| w.is_none()).count();
    assert_eq!(
        now_count, 6,
        "the burst (and the one the rate allows now): {waits:?}"
    );
    // The rest come back a tenth of a second apart.
    let mut turns: Vec<Duration> = waits.iter().flatten().copied().collect();
    turns.sort();
    for pair in turns.windows(2) {
        assert_eq!(pair[1] - pair[0], Duration::from_millis(100));
    }
    assert_eq!(*turns.last().unwrap(), Duration::from_millis(1900));
    // Asking again before the turn gives the same turn; at the turn, it starts.
    let k = key(10);
    let w = pacer.admit("r.example", &k, t0).unwrap();
    assert_eq!(
        pacer.admit("r.example", &k, t0 + Duration::from_millis(50)),
        Some(w - Duration::from_millis(50))
    );
    assert_eq!(pacer.admit("r.example", &k, t0 + w), None);
    // Another registry is not held up.
    assert_eq!(pacer.admit("other.example", &key(1), t0), None);
}

#[test]
fn sources_sharing_a_verdict_share_its_turn() {
    let pacer = Pacer::new(1, 1);
    let t0 = Instant::now();
    assert_eq!(pacer.admit("r.example", &key(1), t0), None);
    // Nine more sources of the same verdict: no turn of their own (they will find it checked).
    for _ in 0..9 {
        assert_eq!(pacer.admit("r.example", &key(1), t0), None);
    }
    // The rate was spent once: the next verdict waits one step, not ten.
    assert_eq!(pacer.admit("r.example", &key(2), t0), None, "the burst");
    assert_eq!(
        pacer.admit("r.example", &key(3), t0),
        Some(Duration::from_secs(1))
    );
    // Long after, the same verdict is paced again like any other.
    let later = t0 + GRACE + Duration::from_secs(10);
    assert_eq!(pacer.admit("r.example", &key(1), later), None);
}

#[test]
fn turns_given_out_are_bounded() {
    let pacer = Pacer::new(1, 1);
    let t0 = Instant::now();
    for n in 0..(MAX_TURNS as u32 + 10) {
        pacer.admit("r.example", &key(n), t0);
    }
    let lanes = pacer.lanes.lock().unwrap();
    assert!(lanes.values().map(|l| l.turns.len()).sum::<usize>() <= MAX_TURNS);
}
