//! Parsing of OCI image references (`host/repo[:tag][@sha256:<hex>]`, optionally `oci://`).
//!
//! Only fully qualified references are accepted: Flux URLs always name their registry, and
//! silently defaulting to Docker Hub would audit a different artifact than the one Flux pulls.

use std::fmt;
use std::str::FromStr;

use super::bounded::truncate;

/// A parsed, validated reference to an artifact in a registry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    /// Registry host, with port if any (e.g. `ghcr.io`, `127.0.0.1:5000`).
    pub registry: String,
    /// Repository path inside the registry (lowercase, `/`-separated).
    pub repository: String,
    /// Tag, if the reference named one.
    pub tag: Option<String>,
    /// Digest (`sha256:<64 hex>`), if the reference named one.
    pub digest: Option<String>,
}

/// Why a string is not a usable image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference {input:?}: {reason}")]
pub struct RefError {
    input: String,
    reason: String,
}

impl RefError {
    fn new(input: &str, reason: impl Into<String>) -> Self {
        // Cut absurdly long inputs so error messages stay readable.
        let input: String = input.chars().take(256).collect();
        RefError {
            input,
            reason: reason.into(),
        }
    }
}

impl ImageRef {
    /// `registry/repository` (what cosign calls the repository's context name).
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

impl FromStr for ImageRef {
    type Err = RefError;

    fn from_str(input: &str) -> Result<Self, RefError> {
        let s = input.strip_prefix("oci://").unwrap_or(input);
        if s.is_empty() {
            return Err(RefError::new(input, "empty reference"));
        }
        let (name_tag, digest) = match s.split_once('@') {
            Some((n, d)) => {
                if !is_sha256_digest(d) {
                    return Err(RefError::new(
                        input,
                        "digest must be sha256: followed by 64 lowercase hex characters",
                    ));
                }
                (n, Some(d.to_string()))
            }
            None => (s, None),
        };
        let (registry, rest) = name_tag
            .split_once('/')
            .ok_or_else(|| RefError::new(input, "missing repository (expected host/repository)"))?;
        if !is_registry_host(registry) {
            return Err(RefError::new(
                input,
                format!(
                    "{:?} is not a registry host (it needs a '.' or a ':port', or must be localhost)",
                    truncate(registry)
                ),
            ));
        }
        // A ':' after the last '/' separates the tag; earlier ones belong to the host port.
        let (repository, tag) = match rest.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r, Some(t.to_string())),
            _ => (rest, None),
        };
        if let Some(t) = &tag {
            if !is_tag(t) {
                return Err(RefError::new(
                    input,
                    format!("invalid tag {:?}", truncate(t)),
                ));
            }
        }
        if !is_repository(repository) {
            return Err(RefError::new(
                input,
                "repository must be lowercase path components of [a-z0-9] joined by '.', '_', '__' or '-'",
            ));
        }
        Ok(ImageRef {
            registry: registry.to_string(),
            repository: repository.to_string(),
            tag,
            digest,
        })
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// True for `sha256:` followed by exactly 64 lowercase hex characters, the only digest form this
/// module puts into URLs (which also rules out path tricks in untrusted descriptors).
pub(crate) fn is_sha256_digest(d: &str) -> bool {
    d.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

fn is_registry_host(h: &str) -> bool {
    if h == "localhost" {
        return true;
    }
    let (host, port) = if let Some(rest) = h.strip_prefix('[') {
        // Bracketed IPv6 literal, optionally followed by :port.
        let Some((addr, after)) = rest.split_once(']') else {
            return false;
        };
        if addr.is_empty() || !addr.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return false;
        }
        match after {
            "" => return true,
            p => match p.strip_prefix(':') {
                Some(port) => return is_port(port),
                None => return false,
            },
        }
    } else {
        match h.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (h, None),
        }
    };
    if let Some(p) = port {
        if !is_port(p) {
            return false;
        }
    }
    let labels_ok = !host.is_empty()
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    labels_ok && (host.contains('.') || port.is_some() || host == "localhost")
}

fn is_port(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 5
        && p.bytes().all(|b| b.is_ascii_digit())
        && p.parse::<u16>().is_ok()
}

fn is_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// Distribution's path-component grammar: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
pub(crate) fn is_repository(r: &str) -> bool {
    !r.is_empty() && r.len() <= 255 && r.split('/').all(is_path_component)
}

fn is_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: ".", "_", "__" or one or more "-", always followed by alnum.
        let start = i;
        let sep = b[i];
        while i < b.len() && b[i] == sep {
            i += 1;
        }
        let n = i - start;
        let ok = match sep {
            b'.' => n == 1,
            b'_' => n <= 2,
            b'-' => true,
            _ => false,
        };
        // The run must be followed by an alphanumeric ("a.-b" is not a component).
        if !ok || !b.get(i).is_some_and(|&x| alnum(x)) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn parse(s: &str) -> ImageRef {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn parses_tag_digest_both_and_oci_prefix() {
        let r = parse("ghcr.io/org/app:v1.2");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("ghcr.io", "org/app")
        );
        assert_eq!(r.tag.as_deref(), Some("v1.2"));
        assert_eq!(r.digest, None);

        let r = parse(&format!("oci://127.0.0.1:5000/a/b/c@{D}"));
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "a/b/c");
        assert_eq!((r.tag, r.digest.as_deref()), (None, Some(D)));

        let r = parse(&format!("localhost/app:latest@{D}"));
        assert_eq!(r.registry, "localhost");
        assert_eq!(r.tag.as_deref(), Some("latest"));
        assert_eq!(r.digest.as_deref(), Some(D));

        let r = parse("[::1]:5000/app");
        assert_eq!(r.registry, "[::1]:5000");
        assert_eq!(r.repository, "app");
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "ghcr.io/org/app:v1",
            "localhost:5000/x",
            &format!("reg.example.com/a/b:t@{D}"),
        ] {
            assert_eq!(parse(s).to_string(), s);
        }
        assert_eq!(parse("oci://ghcr.io/a").to_string(), "ghcr.io/a");
    }

    #[test]
    fn rejects_unqualified_uppercase_and_bad_digests() {
        for bad in [
            "",
            "oci://",
            "alpine",
            "library/alpine:3",
            "ghcr.io/Org/app",
            "ghcr.io/",
            "ghcr.io/app:",
            "ghcr.io/app:bad*tag",
            "ghcr.io/app@sha256:abc",
            "ghcr.io/app@sha512:0123",
            &format!("ghcr.io/app@{}", D.to_uppercase()),
            "ghcr.io/a//b",
            "ghcr.io/a..b",
            "ghcr.io/-a",
            "host:99999/app",
            "host:port/app",
            "ghcr.io/a/../b",
        ] {
            let err = bad.parse::<ImageRef>().expect_err(bad);
            assert!(err.to_string().contains("invalid image reference"), "{err}");
        }
    }

    #[test]
    fn separators_follow_distribution_grammar() {
        assert!(is_repository("a__b/c-d/e---f/g.h/i_j"));
        assert!(!is_repository("a___b"));
        assert!(!is_repository("a.-b"));
        assert!(!is_repository("a_"));
    }
}
