//! `verify --notation-config DIR`: a Notation trust policy and trust store from a directory
//! laid out like the Secret Flux reads — `DIR/trustpolicy.json` and every `DIR/*.crt` or
//! `DIR/*.pem` (at least one; every named trust store of the policy holds all of them).

use std::path::Path;

use crate::engine::notation::{NotationPolicy, TRUST_POLICY_KEY};
use crate::engine::Policy;

/// Files read at most from the directory, and bytes per file (a trust store is small).
const MAX_FILES: usize = 256;
const MAX_FILE_BYTES: u64 = 1 << 20;

/// The Notation policy of `dir`.
pub fn load(dir: &Path) -> Result<Policy, String> {
    let read = |p: &Path| -> Result<Vec<u8>, String> {
        let meta = std::fs::metadata(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
        if meta.len() > MAX_FILE_BYTES {
            return Err(format!(
                "{} is larger than {MAX_FILE_BYTES} bytes",
                p.display()
            ));
        }
        std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
    };
    let trust_policy = read(&dir.join(TRUST_POLICY_KEY))?;
    let mut files = vec![];
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_string)
        else {
            continue;
        };
        if !(name.ends_with(".crt") || name.ends_with(".pem")) || !path.is_file() {
            continue;
        }
        if files.len() == MAX_FILES {
            return Err(format!(
                "{} has more than {MAX_FILES} certificate files",
                dir.display()
            ));
        }
        files.push((name, read(&path)?));
    }
    files.sort();
    let source = format!("directory {}", dir.display());
    let policy = NotationPolicy::from_files(
        &source,
        &trust_policy,
        files.iter().map(|(n, b)| (n.as_str(), b.as_slice())),
    )?;
    Ok(Policy::Notation(Box::new(policy)))
}
