//! `insecure`: `spec.insecure: true` (plain HTTP, no TLS) for a registry that is not on the
//! loopback interface — anyone on the path can swap the artifact and its signatures' transport.

use serde_json::Value;

use super::super::discover::{Declared, SOURCE_GROUP};
use super::super::finding::{rules, Finding};
use super::super::input::Object;

/// `insecure` for the declared sources and OCI HelmRepositories.
pub fn check(sources: &[Declared], objects: &[Object]) -> Vec<Finding> {
    let mut out = vec![];
    for d in sources.iter().filter(|d| d.source.insecure) {
        let at = (d.object.file.as_str(), d.object.line_of("/spec/insecure"));
        if let Some(f) = finding(&d.url, at, &d.display()) {
            out.push(f);
        }
    }
    for o in objects
        .iter()
        .filter(|o| o.group() == SOURCE_GROUP && o.kind() == "HelmRepository")
        .filter(|o| o.value.pointer("/spec/insecure") == Some(&Value::Bool(true)))
    {
        let url = o
            .value
            .pointer("/spec/url")
            .and_then(Value::as_str)
            .unwrap_or("");
        let display = format!(
            "HelmRepository/{}/{}",
            o.namespace().unwrap_or(""),
            o.name()
        );
        if let Some(f) = finding(url, (&o.file, o.line_of("/spec/insecure")), &display) {
            out.push(f);
        }
    }
    out
}

fn finding(url: &str, at: (&str, u64), display: &str) -> Option<Finding> {
    let host = host_of(url);
    (!is_loopback(&host)).then(|| {
        Finding::error(
            rules::INSECURE,
            at,
            display,
            format!("spec.insecure: true fetches {url} over plain HTTP from {host}, which is not loopback"),
            "serve the registry over TLS (certSecretRef for a private CA) and remove spec.insecure",
        )
    })
}

/// The host (no port) of `oci://host:port/path`.
pub fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or("");
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("").to_string();
    }
    authority.split(':').next().unwrap_or("").to_string()
}

/// `localhost`, `127.0.0.0/8`, `::1`.
pub fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        assert_eq!(host_of("oci://127.0.0.1:5000/x"), "127.0.0.1");
        assert_eq!(host_of("oci://[::1]:5000/x"), "::1");
        assert!(is_loopback("127.0.0.1") && is_loopback("::1") && is_loopback("localhost"));
        assert!(!is_loopback("registry.example") && !is_loopback("10.0.0.1"));
    }
}
