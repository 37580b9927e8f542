use super::*;

fn budget(host: &str, limit: u32, secs: u64) -> BudgetSpec {
    BudgetSpec {
        host: host.into(),
        limit,
        window: Duration::from_secs(secs),
    }
}

fn cause(e: &RegistryError) -> Option<PauseCause> {
    match e {
        RegistryError::Paused { cause, .. } => Some(*cause),
        _ => None,
    }
}

#[test]
fn a_429_with_retry_after_pauses_the_host_for_that_long_and_then_lets_it_go() {
    let t = Throttle::default();
    let t0 = Instant::now();
    let err = t
        .answered("ghcr.io", 429, Some(Duration::from_secs(30)), t0)
        .expect("a pause");
    assert_eq!(cause(&err), Some(PauseCause::BackOff));
    let text = err.to_string();
    assert!(
        text.contains("Retry-After 30 s") && text.contains("waits until"),
        "{text}"
    );
    // Every request to that host, from any clone, fails at once with the same message.
    let again = t
        .clone()
        .check("ghcr.io", t0 + Duration::from_secs(29))
        .unwrap_err();
    assert_eq!(
        again.to_string(),
        text,
        "the message is stable for one pause"
    );
    assert!(t.check("quay.io", t0).is_ok(), "other hosts are not paused");
    assert!(t.paused_until("ghcr.io", t0).is_some());
    assert!(t.check("ghcr.io", t0 + Duration::from_secs(30)).is_ok());
    assert!(t
        .paused_until("ghcr.io", t0 + Duration::from_secs(30))
        .is_none());
}

#[test]
fn a_503_pauses_only_with_retry_after_and_other_answers_never() {
    let t = Throttle::default();
    let t0 = Instant::now();
    assert!(
        t.answered("r.example", 503, None, t0).is_none(),
        "a plain outage"
    );
    for code in [200, 404, 500, 502] {
        assert!(t
            .answered("r.example", code, Some(Duration::from_secs(9)), t0)
            .is_none());
    }
    assert!(t.check("r.example", t0).is_ok());
    assert!(t
        .answered("r.example", 503, Some(Duration::from_secs(9)), t0)
        .is_some());
    assert!(t.check("r.example", t0 + Duration::from_secs(8)).is_err());
}

#[test]
fn a_hostile_retry_after_is_capped_and_a_bare_429_backs_off_doubling() {
    let t = Throttle::default();
    let t0 = Instant::now();
    t.answered(
        "r.example",
        429,
        Some(Duration::from_secs(u64::MAX / 4)),
        t0,
    );
    assert!(t
        .check("r.example", t0 + MAX_PAUSE - Duration::from_secs(1))
        .is_err());
    assert!(t.check("r.example", t0 + MAX_PAUSE).is_ok());
    let t = Throttle::default();
    let mut now = t0;
    for expected in [30, 60, 120, 240] {
        t.answered("r.example", 429, None, now);
        let d = Duration::from_secs(expected);
        assert!(t
            .check("r.example", now + d - Duration::from_secs(1))
            .is_err());
        assert!(t.check("r.example", now + d).is_ok(), "{expected} s");
        now += d;
    }
    for _ in 0..40 {
        t.answered("r.example", 429, None, now);
    }
    assert!(t.check("r.example", now + MAX_PAUSE).is_ok(), "capped");
    // An answer that is not a 429 ends the run.
    t.answered("r.example", 200, None, now + MAX_PAUSE);
    let later = now + MAX_PAUSE * 2;
    t.answered("r.example", 429, None, later);
    assert!(t.check("r.example", later + DEFAULT_PAUSE).is_ok());
}

#[test]
fn a_shorter_pause_never_cuts_a_longer_one() {
    let t = Throttle::default();
    let t0 = Instant::now();
    t.answered("r.example", 429, Some(Duration::from_secs(300)), t0);
    t.answered("r.example", 429, Some(Duration::from_secs(1)), t0);
    assert!(t.check("r.example", t0 + Duration::from_secs(299)).is_err());
}

#[test]
fn a_budget_refuses_re_checks_once_spent_but_never_a_first_check() {
    let t = Throttle::new(vec![budget("docker.io", 3, 3600)]).unwrap();
    let t0 = Instant::now();
    assert!(t.admits("registry-1.docker.io", 3, t0).is_ok());
    for _ in 0..3 {
        t.take("registry-1.docker.io", true, t0).unwrap();
    }
    let e = t.take("index.docker.io", true, t0).unwrap_err();
    assert_eq!(cause(&e), Some(PauseCause::Budget));
    assert!(e.to_string().contains("3 manifest GETs per 1h"), "{e}");
    assert!(t.admits("docker.io", 1, t0).is_err());
    // A first check goes first: counted, never refused.
    t.take("docker.io", false, t0).unwrap();
    assert_eq!(t.room("docker.io", t0).unwrap().left, 0);
    // Other hosts have no budget.
    for _ in 0..10 {
        t.take("ghcr.io", true, t0).unwrap();
    }
    assert!(t.room("ghcr.io", t0).is_none());
    // A window later there is room again.
    assert!(t
        .admits("docker.io", 3, t0 + Duration::from_secs(3700))
        .is_ok());
}

#[test]
fn admission_needs_room_for_the_whole_expected_cost() {
    let t = Throttle::new(vec![budget("docker.io", 10, 600)]).unwrap();
    let t0 = Instant::now();
    for _ in 0..8 {
        t.take("docker.io", true, t0).unwrap();
    }
    assert!(t.admits("docker.io", 2, t0).is_ok());
    let e = t.admits("docker.io", 3, t0).unwrap_err();
    let RegistryError::Paused { until, .. } = e else {
        panic!("{e:?}")
    };
    assert!(
        until > SystemTime::now() + Duration::from_secs(500),
        "{until:?}"
    );
    // An expected cost above the limit is asked as the limit (else it would never fit).
    let t = Throttle::new(vec![budget("docker.io", 2, 600)]).unwrap();
    assert!(t.admits("docker.io", 50, t0).is_ok());
}

#[test]
fn bad_budgets_are_config_errors() {
    for b in [
        vec![budget("docker.io", 0, 60)],
        vec![budget("docker.io", 1, 0)],
        vec![budget("docker.io", 1, 60), budget("index.docker.io", 2, 60)],
    ] {
        assert!(matches!(Throttle::new(b), Err(RegistryError::Config(_))));
    }
}

#[test]
fn the_hosts_it_remembers_are_bounded() {
    let t = Throttle::new(vec![budget("docker.io", 5, 60)]).unwrap();
    let t0 = Instant::now();
    for i in 0..(MAX_HOSTS * 2) {
        t.answered(
            &format!("r{i}.example"),
            429,
            Some(Duration::from_secs(60)),
            t0,
        );
    }
    assert!(
        t.lock().hosts.len() <= MAX_HOSTS + 1,
        "budgeted hosts come on top"
    );
    // The budgeted host is still counted when the map is full.
    t.take("docker.io", true, t0).unwrap();
    assert_eq!(t.room("docker.io", t0).map(|r| r.left), Some(4));
}

#[test]
fn windows_read_as_the_flag_spells_them() {
    assert_eq!(human(Duration::from_secs(6 * 3600)), "6h");
    assert_eq!(human(Duration::from_secs(90 * 60)), "90m");
    assert_eq!(human(Duration::from_secs(45)), "45s");
}
