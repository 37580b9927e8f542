//! `crds`: prints the `SourceAudit` and `ProvenancePolicy` CRDs as multi-document YAML.
//!
//! The committed files under `config/crd/bases/` are this output, regenerated with `make crds`
//! and checked for drift by `make crds-check` and by this module's tests, so they are never
//! edited by hand.

use clap::Args;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

/// Arguments of `crds`.
#[derive(Debug, Args)]
pub struct CrdsArgs {
    /// Write one `<group>_<plural>.yaml` file per CRD into this directory instead of stdout.
    #[arg(long)]
    pub output_dir: Option<std::path::PathBuf>,
}

/// One CRD as a YAML document (with the leading `---`).
pub fn to_yaml(crd: &CustomResourceDefinition) -> Result<String, String> {
    let body = serde_saphyr::to_string(crd).map_err(|e| e.to_string())?;
    Ok(format!("---\n{body}"))
}

/// The file name kubebuilder-style layouts use: `<group>_<plural>.yaml`.
pub fn file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}_{}.yaml", crd.spec.group, crd.spec.names.plural)
}

/// Runs `crds`.
pub fn run(args: CrdsArgs) -> u8 {
    match write(&args) {
        Ok(()) => super::EXIT_VERIFIED,
        Err(e) => {
            eprintln!("error: {e}");
            super::EXIT_ERROR
        }
    }
}

fn write(args: &CrdsArgs) -> Result<(), String> {
    for crd in crate::api::crds() {
        let yaml = to_yaml(&crd)?;
        match &args.output_dir {
            None => print!("{yaml}"),
            Some(dir) => {
                let path = dir.join(file_name(&crd));
                std::fs::write(&path, yaml).map_err(|e| format!("{}: {e}", path.display()))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed CRDs, as the file names `file_name` produces.
    const COMMITTED: [(&str, &str); 2] = [
        (
            "provenance.dev_sourceaudits.yaml",
            include_str!("../../config/crd/bases/provenance.dev_sourceaudits.yaml"),
        ),
        (
            "provenance.dev_provenancepolicies.yaml",
            include_str!("../../config/crd/bases/provenance.dev_provenancepolicies.yaml"),
        ),
    ];

    #[test]
    fn committed_crds_equal_the_generated_ones() {
        let generated = crate::api::crds();
        assert_eq!(generated.len(), COMMITTED.len());
        for (crd, (name, committed)) in generated.iter().zip(COMMITTED) {
            assert_eq!(file_name(crd), name);
            assert!(
                to_yaml(crd).unwrap() == committed,
                "config/crd/bases/{name} is stale: run `make crds`"
            );
        }
    }

    #[test]
    fn generated_yaml_parses_back_into_the_same_crd() {
        for crd in crate::api::crds() {
            let yaml = to_yaml(&crd).unwrap();
            let back: CustomResourceDefinition = serde_saphyr::from_str(&yaml).unwrap();
            assert_eq!(back, crd);
        }
    }
}
