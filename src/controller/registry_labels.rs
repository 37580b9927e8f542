//! The label values of `provenance_registry_requests_total{registry,code}`, bounded although
//! both come from outside: the host from a tenant's source URL, the status from whatever the
//! registry answers.
//!
//! - `code`: the codes an operator acts on as they are (`200`, `401`, `404`, `429`, `503`, …),
//!   any other by class (`1xx` … `5xx`), `other` for a number outside 100–599, `error` when no
//!   response came (transport failure, timeout). At most [`CODES`] + 7 values.
//! - `registry`: the host, while a current source uses it or it was asked something in the last
//!   idle period (a new source's first requests come before its gauges); at most
//!   [`MAX_REGISTRIES`] hosts at once, any further one is `other`. A host no source uses any
//!   more has its series removed once idle ([`RegistryLabelSet::prune`]).

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// Distinct registry hosts exported at once; more go to [`OTHER`].
pub const MAX_REGISTRIES: usize = 64;
/// The label value of a registry beyond the cap, and of an implausible host.
pub const OTHER: &str = "other";
/// Status codes exported as they are; any other is exported by class.
pub const CODES: [u16; 22] = [
    200, 201, 202, 204, 206, 301, 302, 303, 307, 308, 400, 401, 403, 404, 405, 408, 409, 416, 429,
    500, 502, 503,
];
/// The longest host kept as a label (a DNS name is at most 253 bytes, plus a port).
const MAX_HOST: usize = 253 + 6;

/// The `code` label of a response status (`None`: no response).
pub fn code_label(status: Option<u16>) -> &'static str {
    const NAMES: [&str; 22] = [
        "200", "201", "202", "204", "206", "301", "302", "303", "307", "308", "400", "401", "403",
        "404", "405", "408", "409", "416", "429", "500", "502", "503",
    ];
    let Some(s) = status else {
        return "error";
    };
    if let Some(i) = CODES.iter().position(|c| *c == s) {
        return NAMES[i];
    }
    match s {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => OTHER,
    }
}

#[derive(Debug)]
struct Exported {
    last_request: Instant,
    codes: BTreeSet<&'static str>,
}

/// Which registry hosts have series, with which codes, and which source `S` uses which host.
#[derive(Debug)]
pub struct RegistryLabelSet<S> {
    exported: HashMap<String, Exported>,
    other_codes: BTreeSet<&'static str>,
    used_by: HashMap<S, String>,
}

impl<S> Default for RegistryLabelSet<S> {
    fn default() -> Self {
        Self {
            exported: HashMap::new(),
            other_codes: BTreeSet::new(),
            used_by: HashMap::new(),
        }
    }
}

impl<S: std::hash::Hash + Eq + Clone> RegistryLabelSet<S> {
    /// The `registry` label for a request to `host` answered with `code`, recording it.
    pub fn label(&mut self, host: &str, code: &'static str, now: Instant) -> String {
        let plausible = !host.is_empty()
            && host.len() <= MAX_HOST
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b));
        let room = self.exported.len() < MAX_REGISTRIES;
        if plausible && (room || self.exported.contains_key(host)) {
            let e = self
                .exported
                .entry(host.to_string())
                .or_insert_with(|| Exported {
                    last_request: now,
                    codes: BTreeSet::new(),
                });
            e.last_request = now;
            e.codes.insert(code);
            return host.to_string();
        }
        self.other_codes.insert(code);
        OTHER.to_string()
    }

    /// Records the registry `source` uses now (`None`: none known, or the source is gone).
    pub fn set_source(&mut self, source: &S, host: Option<&str>) {
        match host {
            Some(h) => {
                self.used_by.insert(source.clone(), h.to_string());
            }
            None => {
                self.used_by.remove(source);
            }
        }
    }

    /// Forgets the hosts no source uses and not asked anything for `idle`; returns the
    /// `(registry, code)` label pairs whose series must be removed.
    pub fn prune(&mut self, now: Instant, idle: Duration) -> Vec<(String, String)> {
        let in_use: BTreeSet<&str> = self.used_by.values().map(String::as_str).collect();
        let gone: Vec<String> = self
            .exported
            .iter()
            .filter(|(host, e)| {
                !in_use.contains(host.as_str())
                    && now.saturating_duration_since(e.last_request) >= idle
            })
            .map(|(host, _)| host.clone())
            .collect();
        let mut out = vec![];
        for host in gone {
            if let Some(e) = self.exported.remove(&host) {
                out.extend(e.codes.iter().map(|c| (host.clone(), c.to_string())));
            }
        }
        out
    }

    /// The hosts exported now (for tests and debugging).
    pub fn hosts(&self) -> BTreeSet<String> {
        self.exported.keys().cloned().collect()
    }
}

/// The registry host of an `oci://host/repository…` URL.
pub fn host_of(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("oci://").unwrap_or(url);
    let host = rest.split('/').next()?;
    (!host.is_empty() && rest.contains('/')).then_some(host)
}

#[cfg(test)]
#[path = "registry_labels_tests.rs"]
mod tests;
