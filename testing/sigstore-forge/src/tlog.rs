//! Rekor v1 log entries made with the instance's log key: canonical body, SET (inclusion
//! promise), and an inclusion proof in a one-leaf tree with a signed checkpoint.
//!
//! SET: the log key's ECDSA signature over the canonical JSON of `{body, integratedTime, logID,
//! logIndex}` (body base64, logID hex), exactly what Rekor signs. Checkpoint: a signed note
//! `"<origin>\n<size>\n<b64 root>\n"` followed by a blank line and
//! `"— <name> <b64(key hint || signature)>"`, where the key hint is the first 4 bytes of the log
//! ID (SHA-256 of the PKIX key), as Rekor and both verifiers (sigstore-verify, Rekor's Go
//! `SignedNote.Verify` used by cosign) expect. With tree size 1 the root is the leaf hash
//! `SHA-256(0x00 || body)` and the proof has no hashes.

use crate::ca::PrivateSigstore;
use crate::{b64, json, Result, SignOptions};
use rcgen::SigningKey;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Global log index given to every entry (the proof's index in its one-leaf tree is 0).
const LOG_INDEX: i64 = 42;
/// Tree ID in the checkpoint origin, like Rekor's `"rekor.sigstore.dev - <tree id>"`.
const TREE_ID: u64 = 1_193_050_959_916_656_506;

/// One Rekor v1 entry with its proofs.
#[derive(Debug, Clone)]
pub struct LogEntry {
    /// `hashedrekord` or `dsse`.
    pub kind: String,
    /// `0.0.1`.
    pub version: String,
    /// Canonicalized body (JSON bytes).
    pub body: Vec<u8>,
    /// Unix seconds.
    pub integrated_time: i64,
    /// Global log index.
    pub log_index: i64,
    /// SHA-256 of the log key.
    pub log_id: [u8; 32],
    /// Signed entry timestamp (DER ECDSA).
    pub set: Vec<u8>,
    /// Merkle root of the one-leaf tree.
    pub root_hash: [u8; 32],
    /// Signed checkpoint (note) for that root.
    pub checkpoint: String,
}

impl PrivateSigstore {
    /// Logs `body` (a Rekor entry body; canonicalized here) in this instance's Rekor.
    pub(crate) fn log_entry(
        &self,
        kind: &str,
        body: &Value,
        opts: &SignOptions,
    ) -> Result<LogEntry> {
        let body = json::canonical(body).into_bytes();
        let integrated_time = opts
            .integrated_time
            .unwrap_or_else(|| crate::ca::now().unix_timestamp());
        let log_id = self.rekor_log_id();
        let payload = format!(
            r#"{{"body":"{}","integratedTime":{},"logID":"{}","logIndex":{}}}"#,
            b64(&body),
            integrated_time,
            hex::encode(log_id),
            LOG_INDEX
        );
        let mut set = self.rekor_key.sign(payload.as_bytes())?;
        if opts.corrupt_set {
            let last = set.len() - 1;
            set[last] ^= 1;
        }
        let mut leaf = vec![0u8];
        leaf.extend_from_slice(&body);
        let root_hash: [u8; 32] = Sha256::digest(&leaf).into();
        let host = self.rekor_host();
        let note = format!("{host} - {TREE_ID}\n1\n{}\n", b64(root_hash));
        let sig = self.rekor_key.sign(note.as_bytes())?;
        let mut hint_sig = log_id[..4].to_vec();
        hint_sig.extend_from_slice(&sig);
        let checkpoint = format!("{note}\n— {host} {}\n", b64(hint_sig));
        Ok(LogEntry {
            kind: kind.to_string(),
            version: "0.0.1".to_string(),
            body,
            integrated_time,
            log_index: LOG_INDEX,
            log_id,
            set,
            root_hash,
            checkpoint,
        })
    }
}

impl LogEntry {
    /// The `tlogEntries[]` element of a Sigstore bundle (protobuf JSON: int64 as strings).
    /// `with_proof` adds the inclusion proof and checkpoint (bundle v0.2+ require one).
    pub fn bundle_json(&self, with_proof: bool) -> Value {
        let mut entry = json!({
            "logIndex": self.log_index.to_string(),
            "logId": {"keyId": b64(self.log_id)},
            "kindVersion": {"kind": self.kind, "version": self.version},
            "integratedTime": self.integrated_time.to_string(),
            "inclusionPromise": {"signedEntryTimestamp": b64(&self.set)},
            "canonicalizedBody": b64(&self.body)
        });
        if with_proof {
            entry["inclusionProof"] = json!({
                "logIndex": "0",
                "rootHash": b64(self.root_hash),
                "treeSize": "1",
                "hashes": [],
                "checkpoint": {"envelope": self.checkpoint}
            });
        }
        entry
    }

    /// cosign's `dev.sigstore.cosign/bundle` annotation (its `bundle.RekorBundle` JSON).
    pub fn cosign_annotation(&self) -> String {
        format!(
            r#"{{"SignedEntryTimestamp":"{}","Payload":{{"body":"{}","integratedTime":{},"logIndex":{},"logID":"{}"}}}}"#,
            b64(&self.set),
            b64(&self.body),
            self.integrated_time,
            self.log_index,
            hex::encode(self.log_id)
        )
    }
}
