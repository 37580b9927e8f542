//! Attacker-style variants of the identity an issuer or subject regex is meant for.
//!
//! The "meant-for" identity is a string the regex itself produces (shortest choices: first
//! alternative, minimal repetitions, a plain character from each class). For a GitHub Actions
//! workflow subject (`https://HOST/OWNER/REPO/.github/workflows/FILE@REF`) it is then varied
//! one part at a time the way an attacker would sign: another owner, an owner or repository
//! suffix, another repository or workflow file, a pull-request ref, a tag for a branch, a ref
//! suffix, a host prefix. A regex that accepts a variant accepts that attacker.

use regex_syntax::hir::{Class, Hir, HirKind, Look};

/// What a variant changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    /// Human name: "other owner", "ref suffix", …
    pub what: &'static str,
    /// The variant identity.
    pub value: String,
}

/// A GitHub Actions workflow identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workflow {
    /// `https://github.com` (or an Enterprise host).
    pub origin: String,
    /// Owner (organisation or user).
    pub owner: String,
    /// Repository.
    pub repo: String,
    /// Path of the workflow file inside the repository (`.github/workflows/x.yml`).
    pub path: String,
    /// The ref after `@` (`refs/heads/main`, `refs/tags/v1`, a commit).
    pub git_ref: String,
}

impl Workflow {
    /// Parses `https://HOST/OWNER/REPO/.github/workflows/FILE@REF`. A regex whose wildcard
    /// spans owner and repository (`acme.*/\.github/…`) yields one segment: the repository is
    /// then empty, and the variants still add one.
    pub fn parse(s: &str) -> Option<Self> {
        let rest = s.strip_prefix("https://")?;
        let (host, rest) = rest.split_once('/')?;
        let marker = "/.github/workflows/";
        let i = rest.rfind(marker)?;
        let (owner_repo, workflow) = (&rest[..i], &rest[i + 1..]);
        let (path, git_ref) = workflow.rsplit_once('@')?;
        let (owner, repo) = owner_repo.split_once('/').unwrap_or((owner_repo, ""));
        Some(Self {
            origin: format!("https://{host}"),
            owner: owner.into(),
            repo: repo.into(),
            path: path.into(),
            git_ref: git_ref.into(),
        })
    }

    /// Back to the subject string.
    pub fn render(&self) -> String {
        let repo = if self.repo.is_empty() {
            String::new()
        } else {
            format!("/{}", self.repo)
        };
        format!(
            "{}/{}{repo}/{}@{}",
            self.origin, self.owner, self.path, self.git_ref
        )
    }

    /// The same identity with another ref.
    pub fn with_ref(&self, git_ref: &str) -> String {
        Self {
            git_ref: git_ref.into(),
            ..self.clone()
        }
        .render()
    }
}

/// A string the regex matches, built from its own literal parts; `None` when the regex does
/// not parse or the string does not match (then no variant can be trusted).
pub fn meant_for(re: &str) -> Option<String> {
    let hir = regex_syntax::Parser::new().parse(re).ok()?;
    let mut s = String::new();
    sample(&hir, &mut s, false);
    regex::Regex::new(re).ok()?.is_match(&s).then_some(s)
}

/// Appends a string `hir` matches. A wide class (`.`, `[^/]`) stands for a literal `.` when it
/// occurs once (an unescaped dot in `github.com` is meant as a dot) and for `x` when repeated.
fn sample(hir: &Hir, out: &mut String, repeated: bool) {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => {}
        HirKind::Literal(l) => out.push_str(&String::from_utf8_lossy(&l.0)),
        HirKind::Class(Class::Unicode(c)) => {
            let contains = |p: char| c.ranges().iter().any(|r| r.start() <= p && p <= r.end());
            let size: u32 = c
                .ranges()
                .iter()
                .map(|r| u32::from(r.end()) - u32::from(r.start()) + 1)
                .sum();
            let preferred: &[char] = if size > 1000 && !repeated {
                &['.', 'x']
            } else {
                &['x', 'a', '0', '-', '.']
            };
            let pick = preferred
                .iter()
                .copied()
                .find(|p| contains(*p))
                .or_else(|| c.ranges().first().map(|r| r.start()));
            out.extend(pick);
        }
        HirKind::Class(Class::Bytes(c)) => {
            if let Some(r) = c.ranges().first() {
                out.push(char::from(r.start()));
            }
        }
        HirKind::Repetition(r) => {
            for _ in 0..r.min.max(1) {
                sample(&r.sub, out, true);
            }
        }
        HirKind::Capture(c) => sample(&c.sub, out, repeated),
        HirKind::Concat(parts) => parts.iter().for_each(|p| sample(p, out, repeated)),
        HirKind::Alternation(alts) => {
            if let Some(a) = alts.first() {
                sample(a, out, repeated);
            }
        }
    }
}

/// Whether the regex can only match at the start (`^`, `\A`) / the end (`$`, `\z`) of the text.
pub fn anchors(re: &str) -> (bool, bool) {
    regex_syntax::Parser::new()
        .parse(re)
        .map_or((false, false), |h| {
            let p = h.properties();
            (
                p.look_set_prefix().contains(Look::Start),
                p.look_set_suffix().contains(Look::End),
            )
        })
}

const ATTACKER: &str = "attacker";

/// Variants of a subject the regex was meant for.
pub fn subject_variants(meant: &str) -> Vec<Variant> {
    let mut v = edge_variants(meant);
    v.extend(undot(meant));
    if let Some(w) = Workflow::parse(meant) {
        let with = |f: &dyn Fn(&mut Workflow)| {
            let mut w = w.clone();
            f(&mut w);
            w.render()
        };
        let mut push = |what: &'static str, value: String| {
            if value != meant {
                v.push(Variant { what, value })
            }
        };
        push("other owner", with(&|w| w.owner = ATTACKER.into()));
        push(
            "owner suffix",
            with(&|w| w.owner = format!("{}-{ATTACKER}", w.owner)),
        );
        if !w.repo.is_empty() {
            push(
                "repository suffix",
                with(&|w| w.repo = format!("{}-{ATTACKER}", w.repo)),
            );
        }
        push(
            "other repository",
            with(&|w| w.repo = format!("{ATTACKER}-repo")),
        );
        push(
            "other workflow file",
            with(&|w| w.path = format!(".github/workflows/{ATTACKER}.yml")),
        );
        push("pull request ref", w.with_ref("refs/pull/1/merge"));
        push(
            "other branch",
            w.with_ref(&format!("refs/heads/{ATTACKER}")),
        );
        if let Some(b) = w.git_ref.strip_prefix("refs/heads/") {
            push(
                "tag instead of branch",
                w.with_ref(&format!("refs/tags/{b}")),
            );
        } else if let Some(t) = w.git_ref.strip_prefix("refs/tags/") {
            push(
                "branch instead of tag",
                w.with_ref(&format!("refs/heads/{t}")),
            );
        }
        push(
            "ref suffix",
            w.with_ref(&format!("{}.{ATTACKER}", w.git_ref)),
        );
        push(
            "host prefix",
            format!(
                "https://{ATTACKER}.example/{}",
                meant.trim_start_matches("https://")
            ),
        );
        push(
            "host suffix",
            with(&|w| w.origin = format!("{}.{ATTACKER}.example", w.origin)),
        );
    }
    v
}

/// Variants of an issuer the regex was meant for.
pub fn issuer_variants(meant: &str) -> Vec<Variant> {
    let mut v = edge_variants(meant);
    v.extend(undot(meant));
    v.push(Variant {
        what: "other issuer",
        value: format!("https://{ATTACKER}.example"),
    });
    v.push(Variant {
        what: "issuer host suffix",
        value: format!("{meant}.{ATTACKER}.example"),
    });
    v
}

/// Text before or after the identity: stopped by `^` and `$`.
fn edge_variants(meant: &str) -> Vec<Variant> {
    vec![
        Variant {
            what: "host prefix",
            value: format!("https://{ATTACKER}.example/{meant}"),
        },
        Variant {
            what: "suffix",
            value: format!("{meant}.{ATTACKER}"),
        },
    ]
}

/// One variant per `.` (the first 16), replaced by `x`: what an unescaped dot also accepts.
fn undot(s: &str) -> Vec<Variant> {
    s.match_indices('.')
        .take(16)
        .map(|(i, _)| Variant {
            what: "any character for an unescaped dot",
            value: format!("{}x{}", &s[..i], &s[i + 1..]),
        })
        .collect()
}

/// The ref candidates `allowedRefs`/`requirePinnedWorkflowRef` are checked against.
pub fn ref_candidates(current: &str) -> Vec<String> {
    let mut refs: Vec<String> = [
        current,
        "refs/heads/main",
        "refs/heads/attacker",
        "refs/tags/v1.0.0",
        "refs/pull/1/merge",
        "0123456789abcdef0123456789abcdef01234567",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    refs.push(format!("{current}.attacker"));
    refs.dedup();
    refs
}

/// Whether `r` is a full 40-hex commit id.
pub fn is_commit(r: &str) -> bool {
    r.len() == 40 && r.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_meant_for_identity_comes_from_the_regex() {
        assert_eq!(
            meant_for(r"^https://github\.com/org/repo/\.github/workflows/rel\.yml@refs/tags/v.+$")
                .as_deref(),
            Some("https://github.com/org/repo/.github/workflows/rel.yml@refs/tags/vx")
        );
        assert_eq!(meant_for(r"^(a|b)[0-9a-f]{3}$").as_deref(), Some("aaaa"));
        assert_eq!(anchors(r"^a$"), (true, true));
        assert_eq!(anchors(r"a$"), (false, true));
        assert_eq!(anchors(r"(?m)^a$"), (false, false));
    }

    #[test]
    fn workflow_subjects_get_attacker_variants() {
        let v = subject_variants(
            "https://github.com/org/repo/.github/workflows/rel.yml@refs/heads/main",
        );
        let get = |what: &str| v.iter().find(|v| v.what == what).unwrap().value.clone();
        assert_eq!(
            get("owner suffix"),
            "https://github.com/org-attacker/repo/.github/workflows/rel.yml@refs/heads/main"
        );
        assert_eq!(
            get("tag instead of branch"),
            "https://github.com/org/repo/.github/workflows/rel.yml@refs/tags/main"
        );
        assert_eq!(
            get("ref suffix"),
            "https://github.com/org/repo/.github/workflows/rel.yml@refs/heads/main.attacker"
        );
        assert_eq!(
            get("pull request ref"),
            "https://github.com/org/repo/.github/workflows/rel.yml@refs/pull/1/merge"
        );
    }
}
