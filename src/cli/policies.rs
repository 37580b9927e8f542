//! Where `audit` takes its policies from: the cluster's `ProvenancePolicy` objects (read as the
//! controller reads them), or a local YAML file in the same shape.

use std::path::Path;

use kube::api::{Api, DynamicObject, ListParams};
use kube::core::ApiResource;
use kube::Client;
use serde_json::Value;

use crate::api::{PolicySet, ProvenancePolicy, ProvenancePolicySpec};

/// Reads `ProvenancePolicy` documents from YAML (one or several documents, or a `List` of
/// them as `kubectl get -o yaml` prints); `(name, spec)` in file order.
pub fn parse_policies(yaml: &str) -> Result<Vec<(String, ProvenancePolicySpec)>, String> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(yaml).map_err(|e| e.to_string())?;
    let mut items = vec![];
    for (i, doc) in docs.into_iter().enumerate() {
        match doc {
            Value::Null => {}
            Value::Object(ref m) if m.get("kind").and_then(Value::as_str) == Some("List") => {
                let list = m
                    .get("items")
                    .and_then(Value::as_array)
                    .ok_or_else(|| format!("document {}: a List without items", i + 1))?;
                items.extend(list.iter().cloned().map(|d| (i + 1, d)));
            }
            doc => items.push((i + 1, doc)),
        }
    }
    let mut out: Vec<(String, ProvenancePolicySpec)> = vec![];
    for (doc, item) in items {
        let api_version = item.get("apiVersion").and_then(Value::as_str);
        let kind = item.get("kind").and_then(Value::as_str);
        if api_version != Some("provenance.dev/v1alpha1") || kind != Some("ProvenancePolicy") {
            return Err(format!(
                "document {doc}: expected apiVersion provenance.dev/v1alpha1, kind ProvenancePolicy; got {} {}",
                api_version.unwrap_or("(no apiVersion)"),
                kind.unwrap_or("(no kind)")
            ));
        }
        let name = item
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| format!("document {doc}: ProvenancePolicy without metadata.name"))?
            .to_string();
        let spec = item
            .get("spec")
            .cloned()
            .ok_or_else(|| format!("document {doc}: ProvenancePolicy {name} has no spec"))?;
        let spec: ProvenancePolicySpec = serde_json::from_value(spec)
            .map_err(|e| format!("document {doc}: ProvenancePolicy {name}: spec: {e}"))?;
        if out.iter().any(|(n, _)| *n == name) {
            return Err(format!(
                "document {doc}: ProvenancePolicy {name} is defined twice"
            ));
        }
        out.push((name, spec));
    }
    if out.is_empty() {
        return Err("no ProvenancePolicy document".into());
    }
    Ok(out)
}

/// The policies of a local file (see [`parse_policies`]).
pub fn read_policy_file(path: &Path) -> Result<Vec<(String, ProvenancePolicySpec)>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse_policies(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The cluster's policies, as the controller reads them (an unreadable one is named in a
/// warning, and every source is judged `Unknown` while it exists). No ProvenancePolicy CRD =
/// no policies.
pub async fn cluster_policies(client: &Client) -> Result<PolicySet, String> {
    let ar = ApiResource::erase::<ProvenancePolicy>(&());
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    let list = match api.list(&ListParams::default()).await {
        Ok(l) => l,
        Err(kube::Error::Api(s)) if s.code == 404 => {
            eprintln!("note: the ProvenancePolicy CRD is not installed: judging each source by its own spec.verify");
            return Ok(PolicySet::default());
        }
        Err(e) => {
            return Err(format!(
                "listing ProvenancePolicies: {e} (use --policy FILE to judge without them)"
            ))
        }
    };
    Ok(crate::cluster::readable(&list.items, |name, e| {
        eprintln!("warning: ProvenancePolicy {name} cannot be read ({e}): no source can be judged while it exists")
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_file_holds_one_or_several_documents_or_a_list() {
        let yaml = r#"
apiVersion: provenance.dev/v1alpha1
kind: ProvenancePolicy
metadata: {name: keys}
spec:
  match: {namespaces: [apps]}
  verify: {provider: cosign, secretRef: {namespace: apps, name: cosign-pub}}
---
apiVersion: provenance.dev/v1alpha1
kind: ProvenancePolicy
metadata: {name: keyless}
spec:
  verify:
    matchOIDCIdentity:
      - issuer: '^https://token\.actions\.githubusercontent\.com$'
        subject: '^https://github\.com/example/infra/'
"#;
        let ps = parse_policies(yaml).unwrap();
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[0].0, "keys");
        assert_eq!(ps[0].1.match_.namespaces, vec!["apps".to_string()]);
        assert_eq!(ps[1].1.verify.match_oidc_identity.len(), 1);
        let list = r#"
apiVersion: v1
kind: List
items:
  - apiVersion: provenance.dev/v1alpha1
    kind: ProvenancePolicy
    metadata: {name: keys}
    spec: {verify: {secretRef: {namespace: apps, name: k}}}
"#;
        assert_eq!(parse_policies(list).unwrap()[0].0, "keys");
    }

    #[test]
    fn a_malformed_policy_file_is_a_clear_error() {
        let err = |y: &str| parse_policies(y).unwrap_err();
        assert!(err("").contains("no ProvenancePolicy"), "{}", err(""));
        let e = err("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n");
        assert!(e.contains("document 1") && e.contains("ConfigMap"), "{e}");
        let e = err(
            "apiVersion: provenance.dev/v1alpha1\nkind: ProvenancePolicy\nspec: {verify: {}}\n",
        );
        assert!(e.contains("metadata.name"), "{e}");
        let e = err("apiVersion: provenance.dev/v1alpha1\nkind: ProvenancePolicy\nmetadata: {name: p}\nspec: {match: {kinds: [GitRepository]}, verify: {}}\n");
        assert!(e.contains("ProvenancePolicy p: spec:"), "{e}");
        let e = err(
            "apiVersion: provenance.dev/v1alpha1\nkind: ProvenancePolicy\nmetadata: {name: p}\n",
        );
        assert!(e.contains("has no spec"), "{e}");
        let twice = "apiVersion: provenance.dev/v1alpha1\nkind: ProvenancePolicy\nmetadata: {name: p}\nspec: {verify: {}}\n";
        let e = err(&format!("{twice}---\n{twice}"));
        assert!(e.contains("defined twice"), "{e}");
        let e = err("key: [unclosed");
        assert!(!e.is_empty());
    }
}
