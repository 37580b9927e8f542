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
    }
}

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
        for (i, line) in f.fix.lines().enumerate() {
            out.push_str(if i == 0 { "  fix: " } else { "       " });
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str(&summary(report));
    out
}

fn summary(report: &Report) -> String {
    let errors = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    format!(
        "{errors} error(s), {} warning(s) in {} source declaration(s), {} policy(ies)\n",
        report.findings.len() - errors,
        report.sources,
        report.policies
    )
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
            "results": findings.iter().map(|f| json!({
                "ruleId": f.rule,
                "ruleIndex": rule_index(f.rule),
                "level": severity(f.severity),
                "message": {"text": format!("{}: {}\nFix: {}", f.source, f.message, f.fix)},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": f.file.trim_start_matches("./").replace('\\', "/")},
                    "region": {"startLine": f.line.max(1)},
                }}],
            })).collect::<Vec<_>>(),
        }],
    })
}

fn github(report: &Report) -> String {
    let mut out = String::new();
    for f in &report.findings {
        out.push_str(&format!(
            "::{} file={},line={},title={}::{}\n",
            severity(f.severity),
            escape_property(&f.file),
            f.line,
            escape_property(&format!("{} ({})", f.rule, f.source)),
            escape_data(&format!("{}\nFix: {}", f.message, f.fix))
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
            policies: 0,
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
