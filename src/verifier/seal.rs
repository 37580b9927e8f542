//! Authenticating what the controller reads back from a `SourceAudit` status.
//!
//! SourceAudits live in the tenants' namespaces: whoever may patch `sourceaudits/status` there
//! can write any status, `Verified=True` included. So the rule is: **the controller reads back
//! from a status only what it can prove it wrote itself.** Every status it writes carries
//! `status.seal`, an HMAC-SHA256 over the source's namespace, kind, name and UID and the rest of
//! the status (its JSON, without the seal), each field length-prefixed, keyed by a Secret in
//! the controller's own namespace
//! (installed empty, filled with 32 random bytes by the controller). A status whose seal does not verify (written or
//! changed by anyone else, copied from another audit, or sealed with a key no longer held) is
//! treated as no status at all: nothing of it is kept and the registry is asked. Without the
//! key (the Secret cannot be read or created) nothing is sealed and nothing is trusted: every
//! restart re-verifies every source, which costs requests but never a wrong verdict.
//!
//! The UID binds a seal to one object: a source deleted and recreated under the same name is
//! another object, and the status sealed for the old one is not read back for it. A source
//! without a UID is never sealed. Seals of the previous format (`v1`, without the UID) are not
//! read back either: after an upgrade every source is re-verified once.
//!
//! A sealed status can still be replayed (an older status of the same source written back): it
//! then carries its own `lastVerifiedTime`, so [`super::schedule`] re-checks it no later than
//! its original re-check time.
//!
//! The seal is the controller's own memory, not a signature for anyone else: nobody but the
//! holder of the key can check it, so to a human or a tool the status says what the controller
//! found only as far as they trust who may write `sourceaudits/status`.

use aws_lc_rs::hmac;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::ByteString;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::Client;

use crate::api::SourceAuditStatus;
use crate::audit::source::FluxSource;

/// The prefix of a seal (algorithm and format version), before the hex tag.
pub const SEAL_PREFIX: &str = "hmac-sha256:v2:";

/// The default name of the key's Secret (`--verdict-key-secret`).
pub const DEFAULT_SECRET: &str = "provenance-auditor-verdict-key";

/// The Secret's data key holding the HMAC key.
pub const KEY_FIELD: &str = "hmac-sha256";

/// Shorter keys are refused: the seal is only as strong as its key.
const MIN_KEY_LEN: usize = 32;

/// Seals statuses and checks seals; without a key it does neither (and trusts nothing).
#[derive(Clone)]
pub struct Sealer {
    key: Option<hmac::Key>,
}

impl std::fmt::Debug for Sealer {
    // Never the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("active", &self.key.is_some())
            .finish()
    }
}

impl Sealer {
    /// No key: statuses are not sealed and no status is trusted.
    pub fn none() -> Self {
        Self { key: None }
    }

    /// A sealer with `key` (at least 32 bytes).
    pub fn from_key(key: &[u8]) -> Result<Self, String> {
        if key.len() < MIN_KEY_LEN {
            return Err(format!(
                "the verdict key has {} bytes, fewer than {MIN_KEY_LEN}",
                key.len()
            ));
        }
        Ok(Self {
            key: Some(hmac::Key::new(hmac::HMAC_SHA256, key)),
        })
    }

    /// Whether statuses are sealed (a key is held).
    pub fn is_active(&self) -> bool {
        self.key.is_some()
    }

    /// Sets `status.seal` for the audit of `source` (clears it without a key, or when the
    /// source has no UID to bind it to).
    pub fn seal(&self, source: &FluxSource, status: &mut SourceAuditStatus) {
        status.seal = None;
        status.seal = match (&self.key, message(source, status)) {
            (Some(k), Some(m)) => {
                let tag = hmac::sign(k, &m);
                Some(format!("{SEAL_PREFIX}{}", hex::encode(tag.as_ref())))
            }
            _ => None,
        };
    }

    /// Whether `status` carries a valid seal of this key for the audit of `source`.
    pub fn verifies(&self, source: &FluxSource, status: &SourceAuditStatus) -> bool {
        let (Some(key), Some(seal)) = (&self.key, &status.seal) else {
            return false;
        };
        let Some(tag) = seal
            .strip_prefix(SEAL_PREFIX)
            .and_then(|h| hex::decode(h).ok())
        else {
            return false;
        };
        let mut unsealed = status.clone();
        unsealed.seal = None;
        message(source, &unsealed).is_some_and(|m| hmac::verify(key, &m, &tag).is_ok())
    }
}

/// What the seal covers: whose audit it is (namespace, kind, name and the object's UID), and
/// everything else in the status. Every field is length-prefixed, so no two different
/// identities give the same bytes. `None` without a UID: nothing to bind the seal to.
fn message(source: &FluxSource, status: &SourceAuditStatus) -> Option<Vec<u8>> {
    debug_assert!(status.seal.is_none());
    let uid = source.uid.as_deref().filter(|u| !u.is_empty())?;
    let mut m = Vec::new();
    for field in [
        "provenance.dev/SourceAudit",
        source.namespace.as_str(),
        source.kind.as_str(),
        source.name.as_str(),
        uid,
    ] {
        length_prefixed(&mut m, field.as_bytes());
    }
    // Serializing plain data cannot fail; an empty body would only make the seal not verify.
    length_prefixed(&mut m, &serde_json::to_vec(status).unwrap_or_default());
    Some(m)
}

fn length_prefixed(m: &mut Vec<u8>, field: &[u8]) {
    m.extend_from_slice(&(field.len() as u64).to_be_bytes());
    m.extend_from_slice(field);
}

/// Reads the key from Secret `namespace/name`. The installation creates it empty (the
/// controller may read and update that one Secret, and create none); a missing key is filled in
/// with 32 random bytes. When the Secret does not exist it is created if the credentials allow
/// (a local run as admin). `Err` says why (never the key); the caller then runs without sealing.
pub async fn load_or_create(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Sealer, String> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let what = format!("Secret {namespace}/{name}");
    // Two replicas may race to fill it in: the loser's update conflicts and it reads again.
    for _ in 0..3 {
        let existing = api
            .get_opt(name)
            .await
            .map_err(|e| format!("reading {what}: {e}"))?;
        let result = match existing {
            Some(s) => {
                if let Some(key) = s.data.as_ref().and_then(|d| d.get(KEY_FIELD)) {
                    return Sealer::from_key(&key.0).map_err(|e| format!("{what}: {e}"));
                }
                let mut filled = s;
                filled
                    .data
                    .get_or_insert_with(Default::default)
                    .insert(KEY_FIELD.into(), ByteString(random_key()?));
                api.replace(name, &PostParams::default(), &filled).await
            }
            None => {
                api.create(
                    &PostParams::default(),
                    &new_secret(namespace, name, random_key()?),
                )
                .await
            }
        };
        match result {
            Ok(s) => {
                let key = s
                    .data
                    .as_ref()
                    .and_then(|d| d.get(KEY_FIELD))
                    .ok_or_else(|| format!("{what} has no {KEY_FIELD} after writing it"))?;
                return Sealer::from_key(&key.0).map_err(|e| format!("{what}: {e}"));
            }
            // Someone else wrote it first: use theirs.
            Err(kube::Error::Api(s)) if s.code == 409 => continue,
            Err(e) => return Err(format!("writing {what}: {e}")),
        }
    }
    Err(format!("{what}: kept conflicting"))
}

fn random_key() -> Result<Vec<u8>, String> {
    let mut key = vec![0u8; MIN_KEY_LEN];
    aws_lc_rs::rand::fill(&mut key).map_err(|_| "no randomness for the verdict key".to_string())?;
    Ok(key)
}

fn new_secret(namespace: &str, name: &str, key: Vec<u8>) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(namespace.into()),
            labels: Some(
                [(
                    "app.kubernetes.io/name".to_string(),
                    "provenance-auditor".to_string(),
                )]
                .into(),
            ),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".into()),
        data: Some([(KEY_FIELD.to_string(), ByteString(key))].into()),
        ..Secret::default()
    }
}

#[cfg(test)]
#[path = "seal_tests.rs"]
mod tests;
