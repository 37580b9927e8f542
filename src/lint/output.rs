//! Printing findings: `text` for people, `json` for scripts, `sarif` (2.1.0) for code-scanning
//! upload, `github` for workflow-command annotations on the pull request.

use serde_json::{json, Value};

use super::finding::{rules, Finding, Severity};
use super::Report;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `file:line: error[rule] source: message` and a fix line.
    Text,
    /// A JSON array, one object per finding.
    Json,
    /// SARIF 2.1.0.
    Sarif,
    /// GitHub Actions workflow commands (`::error file=…,line=…::…`).
    Github,
}

/// Renders the report.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Text => text(report),
        Format::Json => {
            serde_json::to_string_pretty(&report.findings).expect("findings serialize") + "\n"
        }
        Format::Sarif => {
            serde_json::to_string_pretty(&sarif(&report.findings)).expect("SARIF serializes") + "\n"
        }
        Format::Github => github(report),
    }
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "info",
    }
}

/// How many suggested policies the text output prints in full.
const SUGGESTIONS_SHOWN: usize = 3;

fn text(report: &Report) -> String {
    let mut out = String::new();
    for f in &report.findings {
        out.push_str(&format!(
            "{}:{}: {}[{}] {}: {}\n",
            f.file,
            f.line,
            severity(f.severity),
            f.rule,
            f.source,
            f.message
        ));
        if let Some(why) = &f.acknowledged {
            out.push_str(&format!("  acknowledged: {why}\n"));
        }
        if let Some(root) = &f.root {
            out.push_str(&format!("  under: {root}\n"));
        }
        // The inventory's fix is the suggested policy, printed once below.
        if f.rule == rules::NO_VERIFY {
            continue;
        }
        for (i, line) in f.fix.lines().enumerate() {
            out.push_str(if i == 0 { "  fix: " } else { "       " });
            out.push_str(line);
            out.push('\n');
        }
    }
    if report.findings.iter().any(|f| f.rule == rules::NO_VERIFY) && !report.suggestions.is_empty()
    {
        out.push_str("\nPolicies that would require these sources to be verified (one per publisher; fill in the identity `provenance-auditor verify <ref>` reports):\n");
        for s in report.suggestions.iter().take(SUGGESTIONS_SHOWN) {
            out.push_str(&format!(
                "--- # {} ({} source(s))\n{}\n",
                s.publisher, s.sources, s.policy
            ));
        }
        let rest: Vec<&str> = report
            .suggestions
            .iter()
            .skip(SUGGESTIONS_SHOWN)
            .map(|s| s.publisher.as_str())
            .collect();
        if !rest.is_empty() {
            out.push_str(&format!(
                "… and {} more publisher(s): {} (each no-verify finding's fix in -o json has its policy)\n",
                rest.len(),
                rest.join(", ")
            ));
        }
        out.push('\n');
    }
    out.push_str(&summary(report));
    out
}

fn summary(report: &Report) -> String {
    let count = |s: Severity| {
        report
            .findings
            .iter()
            .filter(|f| f.severity == s && f.acknowledged.is_none())
            .count()
    };
    let acknowledged = report
        .findings
        .iter()
        .filter(|f| f.acknowledged.is_some())
        .count();
    let inv = &report.inventory;
    let kinds: Vec<String> = inv
        .by_kind
        .iter()
        .map(|(k, n)| format!("{n} {k}"))
        .collect();
    let mut line = format!(
        "{} error(s), {} warning(s), {} info(s){} in {} source declaration(s) ({}{} from templates, {} HTTP chart(s), {} without verification), {} policy(ies), {} cluster root(s)",
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Info),
        if acknowledged > 0 { format!(", {acknowledged} acknowledged") } else { String::new() },
        report.sources,
        if kinds.is_empty() { String::new() } else { format!("{}; ", kinds.join(", ")) },
        inv.templated,
        inv.http_charts,
        inv.unverified,
        report.policies,
        inv.roots.len(),
    );
    if inv.unreadable > 0 {
        line.push_str(&format!(
            "; {} input(s) could not be read: the result is incomplete (exit 2)",
            inv.unreadable
        ));
    }
    line + "\n"
}

/// SARIF 2.1.0 with one rule per id in [`rules::ALL`].
pub fn sarif(findings: &[Finding]) -> Value {
    let rule_index = |id: &str| rules::ALL.iter().position(|(r, _)| *r == id);
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "provenance-auditor lint",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules::ALL.iter().map(|(id, desc)| json!({
                    "id": id,
                    "shortDescription": {"text": desc},
                    "help": {"text": format!("docs/lint.md#{id}")},
                })).collect::<Vec<_>>(),
            }},
            "results": findings.iter().map(|f| {
                let mut r = json!({
                    "ruleId": f.rule,
                    "ruleIndex": rule_index(f.rule),
                    "level": match f.severity { Severity::Info => "note", s => severity(s) },
                    "message": {"text": format!("{}: {}\nFix: {}", f.source, f.message, f.fix)},
                    "locations": [{"physicalLocation": {
                        "artifactLocation": {"uri": f.file.trim_start_matches("./").replace('\\', "/")},
                        "region": {"startLine": f.line.max(1)},
                    }}],
                });
                // An acknowledgement in the file is SARIF's in-source suppression.
                if let Some(why) = &f.acknowledged {
                    r["suppressions"] = json!([{"kind": "inSource", "justification": why}]);
                }
                r
            }).collect::<Vec<_>>(),
        }],
    })
}

fn github(report: &Report) -> String {
    let mut out = String::new();
    for f in &report.findings {
        let command = match (f.severity, &f.acknowledged) {
            (Severity::Info, _) | (_, Some(_)) => "notice",
            (s, None) => severity(s),
        };
        let ack = f
            .acknowledged
            .as_ref()
            .map(|why| format!("acknowledged: {why}\n"))
            .unwrap_or_default();
        out.push_str(&format!(
            "::{command} file={},line={},title={}::{}\n",
            escape_property(&f.file),
            f.line,
            escape_property(&format!("{} ({})", f.rule, f.source)),
            escape_data(&format!("{ack}{}\nFix: {}", f.message, f.fix))
        ));
    }
    out.push_str(&summary(report));
    out
}

/// Workflow-command message escaping.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Workflow-command property escaping (also `:` and `,`).
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        Report {
            findings: vec![Finding::error(
                rules::DRIFT,
                ("a,b:c.yaml", 3),
                "OCIRepository/x/y",
                "50% off\nsecond",
                "fix it",
            )],
            sources: 1,
            ..Report::default()
        }
    }

    #[test]
    fn github_annotations_escape_properties_and_data() {
        let out = render(&report(), Format::Github);
        assert!(out.starts_with(
            "::error file=a%2Cb%3Ac.yaml,line=3,title=drift (OCIRepository/x/y)::50%25 off%0Asecond%0AFix: fix it\n"
        ), "{out}");
    }

    #[test]
    fn sarif_has_rules_and_a_located_result() {
        let v = sarif(&report().findings);
        assert_eq!(v["version"], "2.1.0");
        let run = &v["runs"][0];
        let idx = run["results"][0]["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(run["tool"]["driver"]["rules"][idx]["id"], "drift");
        assert_eq!(
            run["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"],
            3
        );
    }
}
