//! Saving and loading an instance (for the CLI): keys and certificates as PEM files in a
//! directory, plus `trusted_root.json` for verifiers.

use crate::ca::{ca_params, Authority, PrivateSigstore};
use crate::Result;
use rcgen::KeyPair;
use std::fs;
use std::path::Path;
use time::OffsetDateTime;

const STATE: &str = "state.json";

fn authority(
    dir: &Path,
    name: &str,
    base: &str,
    intermediate: bool,
    epoch: OffsetDateTime,
) -> Result<Authority> {
    let pem = fs::read_to_string(dir.join(format!("{base}.pem")))?;
    let key = KeyPair::from_pem(&fs::read_to_string(dir.join(format!("{base}.key")))?)?;
    let der = pem::parse(&pem)?.into_contents();
    Ok(Authority {
        params: ca_params(name, intermediate, epoch),
        key,
        pem,
        der,
    })
}

impl PrivateSigstore {
    /// Writes `ca.pem`/`ca.key` (root), `intermediate.pem`/`.key`, `chain.pem`, `rekor.key`,
    /// `rekor.pub`, `ctlog.key`, `ctlog.pub`, `trusted_root.json` and `state.json` into `dir`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        fs::create_dir_all(dir)?;
        let files = [
            ("ca.pem", self.root.pem.clone()),
            ("ca.key", self.root.key.serialize_pem()),
            ("intermediate.pem", self.intermediate.pem.clone()),
            ("intermediate.key", self.intermediate.key.serialize_pem()),
            ("chain.pem", self.chain_pem()),
            ("rekor.key", self.rekor_key.serialize_pem()),
            ("rekor.pub", self.rekor_public_key_pem()),
            ("ctlog.key", self.ct_key.serialize_pem()),
            ("ctlog.pub", self.ct_public_key_pem()),
            ("trusted_root.json", self.trusted_root_json()),
        ];
        for (file, content) in files {
            fs::write(dir.join(file), content)?;
        }
        let state = serde_json::json!({"name": self.name, "epoch": self.epoch.unix_timestamp()});
        fs::write(dir.join(STATE), serde_json::to_string_pretty(&state)?)?;
        Ok(())
    }

    /// Loads an instance written by [`Self::save`].
    pub fn load(dir: &Path) -> Result<Self> {
        let state: serde_json::Value = serde_json::from_str(&fs::read_to_string(dir.join(STATE))?)?;
        let name = state["name"]
            .as_str()
            .ok_or("state.json: no name")?
            .to_string();
        let epoch = OffsetDateTime::from_unix_timestamp(
            state["epoch"].as_i64().ok_or("state.json: no epoch")?,
        )?;
        let key = |f: &str| -> Result<KeyPair> {
            Ok(KeyPair::from_pem(&fs::read_to_string(dir.join(f))?)?)
        };
        Ok(Self {
            root: authority(dir, &name, "ca", false, epoch)?,
            intermediate: authority(dir, &name, "intermediate", true, epoch)?,
            rekor_key: key("rekor.key")?,
            ct_key: key("ctlog.key")?,
            name,
            epoch,
        })
    }
}
