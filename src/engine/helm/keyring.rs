//! The OpenPGP keys a policy (or `verify --keyring`) accepts, with what OpenPGP says about each:
//! which of a certificate's keys may sign (the primary key, or a subkey bound with the signing
//! flag and its back-signature), when each expires, and whether it is revoked.
//!
//! Binding and revocation signatures are checked cryptographically here, once, when the keyring
//! is read; what depends on the time (expiry, a soft revocation after a signature) is judged
//! per signature by [`SigningKey::unusable_at`]. Self-signatures made with SHA-1 (or MD5,
//! RIPEMD-160) are not accepted as binding anything: a key whose only self-signatures are
//! SHA-1 is refused with a message that says so.

use pgp::composed::{Deserializable, SignedPublicKey};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{RevocationCode, Signature, SignatureType, SubpacketData};
use pgp::types::{KeyDetails, Tag};
use sha2::{Digest, Sha256};

/// Most certificates read from one keyring (a Secret entry or a `--keyring` file).
pub const MAX_CERTIFICATES: usize = 64;

/// Largest keyring accepted (a Secret holds at most 1 MiB; a `--keyring` file may be larger).
pub const MAX_KEYRING_BYTES: usize = 4 << 20;

/// Why a keyring cannot be used at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    /// It does not parse as OpenPGP public keys (armored or binary).
    #[error("keyring {name}: {detail}")]
    Parse {
        /// Where it came from (file, or `namespace/secret[entry]`).
        name: String,
        /// What is wrong.
        detail: String,
    },
    /// It holds no public key.
    #[error("keyring {0} holds no OpenPGP public key")]
    Empty(String),
}

/// A revocation of a key, as its (verified) revocation signature says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// When it was made (Unix seconds).
    pub created: i64,
    /// Soft (superseded, retired): signatures made before it still hold. Any other reason,
    /// none included, is a compromise: nothing made with the key holds.
    pub soft: bool,
    /// The reason, as named by OpenPGP.
    pub reason: String,
}

/// One key of a certificate that can make data signatures, or could if it were valid.
#[derive(Debug, Clone)]
pub struct SigningKey {
    /// Upper-case hex fingerprint.
    pub fingerprint: String,
    /// Upper-case hex key ID (the last 8 bytes for a v4 key).
    pub key_id: String,
    /// True for a subkey.
    pub subkey: bool,
    /// When the key was created (Unix seconds).
    pub created: i64,
    /// When it expires (Unix seconds), per its newest valid binding; `None` = never.
    pub expires: Option<i64>,
    /// Revoked (itself, or its certificate's primary key).
    pub revoked: Option<Revocation>,
    /// Why it can never sign, whatever the time (no valid binding, no signing flag, SHA-1 …).
    pub refused: Option<String>,
}

impl SigningKey {
    /// Why this key cannot have made a signature created at `signed` and checked at `now`
    /// (both Unix seconds), as OpenPGP says (and as Helm's OpenPGP library checks: expiry
    /// and revocation at verification time).
    pub fn unusable_at(&self, signed: i64, now: i64) -> Option<String> {
        if let Some(r) = &self.refused {
            return Some(r.clone());
        }
        if let Some(r) = &self.revoked {
            if !r.soft || signed >= r.created {
                return Some(format!("the key is revoked ({})", r.reason));
            }
        }
        if signed < self.created {
            return Some("the signature is older than the key".into());
        }
        if let Some(exp) = self.expires {
            if now >= exp {
                return Some(format!("the key expired at {}", unix_to_rfc3339(exp)));
            }
        }
        None
    }
}

/// A public certificate: its primary user ID and the keys that may sign.
#[derive(Debug, Clone)]
pub struct Certificate {
    /// Where it came from (for messages).
    pub source: String,
    /// The primary key's fingerprint (upper-case hex).
    pub fingerprint: String,
    /// The primary user ID with a valid self-signature, if any.
    pub user_id: Option<String>,
    /// The primary key and its subkeys, with their validity.
    pub keys: Vec<(SigningKey, ComponentKey)>,
}

/// The key material of a component key, to check signatures with.
#[derive(Debug, Clone)]
pub enum ComponentKey {
    /// The primary key.
    Primary(Box<SignedPublicKey>),
    /// A subkey.
    Subkey(Box<pgp::packet::PublicSubkey>),
}

/// Every certificate a policy or the CLI accepts.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    /// The certificates, in the order read.
    pub certificates: Vec<Certificate>,
    /// `sha256:` over every keyring's bytes (sorted by name): any change is a new verdict.
    pub fingerprint: String,
}

impl Keyring {
    /// Reads keyrings: `(name, bytes)`, each armored (one or more blocks) or binary
    /// (`gpg --export`, Helm's `pubring.gpg`). An empty list is a keyring that accepts no one.
    pub fn read(keyrings: &[(String, Vec<u8>)]) -> Result<Self, KeyringError> {
        let mut sorted: Vec<&(String, Vec<u8>)> = keyrings.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let mut h = Sha256::new();
        let mut certificates = vec![];
        for (name, bytes) in sorted {
            h.update(format!("{name}\0{}\0", bytes.len()));
            h.update(bytes);
            let keys = parse_keys(name, bytes)?;
            if keys.is_empty() {
                return Err(KeyringError::Empty(name.clone()));
            }
            certificates.extend(keys.into_iter().map(|k| certificate(name, k)));
            if certificates.len() > MAX_CERTIFICATES {
                return Err(parse_error(
                    name,
                    format!("more than {MAX_CERTIFICATES} certificates"),
                ));
            }
        }
        Ok(Self {
            certificates,
            fingerprint: format!("sha256:{}", hex::encode(h.finalize())),
        })
    }

    /// Primary fingerprints, for messages.
    pub fn describe(&self) -> String {
        if self.certificates.is_empty() {
            return "no OpenPGP key".into();
        }
        let fps: Vec<String> = self
            .certificates
            .iter()
            .map(|c| match &c.user_id {
                Some(u) => format!(
                    "{} ({})",
                    c.fingerprint,
                    crate::registry::bounded::truncate(u)
                ),
                None => c.fingerprint.clone(),
            })
            .collect();
        format!("OpenPGP key {}", fps.join(" or "))
    }

    /// The component key a signature names (by issuer fingerprint, else key ID).
    pub fn find(&self, sig: &Signature) -> Option<(&Certificate, &SigningKey, &ComponentKey)> {
        let fps: Vec<String> = sig
            .issuer_fingerprint()
            .iter()
            .map(|f| format!("{f:X}"))
            .collect();
        let ids: Vec<String> = sig
            .issuer_key_id()
            .iter()
            .map(|k| hex::encode_upper(k.as_ref()))
            .collect();
        self.certificates.iter().find_map(|c| {
            c.keys.iter().find_map(|(k, m)| {
                (fps.contains(&k.fingerprint) || (fps.is_empty() && ids.contains(&k.key_id)))
                    .then_some((c, k, m))
            })
        })
    }
}

fn parse_error(name: &str, detail: String) -> KeyringError {
    KeyringError::Parse {
        name: name.to_string(),
        detail,
    }
}

/// The start of an armor block.
const ARMOR: &str = "-----BEGIN PGP";

fn parse_keys(name: &str, bytes: &[u8]) -> Result<Vec<SignedPublicKey>, KeyringError> {
    if bytes.len() > MAX_KEYRING_BYTES {
        return Err(parse_error(
            name,
            format!("larger than {MAX_KEYRING_BYTES} bytes"),
        ));
    }
    let text = std::str::from_utf8(bytes).ok();
    // rPGP reads one armor block per call: a file of several exported keys is split first.
    let blocks: Vec<&[u8]> = match text {
        Some(t) if t.contains(ARMOR) => {
            let starts: Vec<usize> = t.match_indices(ARMOR).map(|(i, _)| i).collect();
            starts
                .iter()
                .enumerate()
                .map(|(n, &start)| {
                    &t.as_bytes()[start..starts.get(n + 1).copied().unwrap_or(t.len())]
                })
                .collect()
        }
        _ => vec![bytes],
    };
    let mut out = vec![];
    for block in blocks {
        let parsed = std::panic::catch_unwind(|| -> Result<Vec<SignedPublicKey>, String> {
            let (keys, _) = SignedPublicKey::from_reader_many(block).map_err(|e| e.to_string())?;
            keys.take(MAX_CERTIFICATES + 1)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string())
        })
        .map_err(|_| parse_error(name, "the OpenPGP parser failed on this input".into()))?;
        out.extend(parsed.map_err(|e| parse_error(name, crate::registry::bounded::truncate(&e)))?);
    }
    Ok(out)
}

/// SHA-1, MD5 and RIPEMD-160 bind nothing: collisions on SHA-1 have been used to forge
/// OpenPGP key certifications (SHA-1 is a Shambles, 2020).
pub fn weak_hash(h: Option<HashAlgorithm>) -> bool {
    matches!(
        h,
        Some(HashAlgorithm::Md5 | HashAlgorithm::Sha1 | HashAlgorithm::Ripemd160) | None
    )
}

fn created(sig: &Signature) -> i64 {
    sig.created().map_or(0, |t| i64::from(t.as_secs()))
}

fn has_key_flags(sig: &Signature) -> bool {
    sig.config().is_some_and(|c| {
        c.hashed_subpackets()
            .any(|p| matches!(p.data, SubpacketData::KeyFlags(_)))
    })
}

fn revocation(sig: &Signature) -> Revocation {
    let (soft, reason) = match sig.revocation_reason_code() {
        Some(RevocationCode::KeySuperseded) => (true, "superseded"),
        Some(RevocationCode::KeyRetired) => (true, "retired"),
        Some(RevocationCode::KeyCompromised) => (false, "compromised"),
        _ => (false, "no reason given: treated as compromised"),
    };
    Revocation {
        created: created(sig),
        soft,
        reason: reason.into(),
    }
}

/// Reads what OpenPGP says about one certificate's keys.
fn certificate(source: &str, key: SignedPublicKey) -> Certificate {
    let primary = &key.primary_key;
    let fingerprint = format!("{:X}", primary.fingerprint());
    // Valid self-signatures binding the primary key: user ID certifications and direct-key
    // signatures, strong hashes only; the newest one says the flags and the expiry.
    let mut weak_only = false;
    let mut newest: Option<&Signature> = None;
    let mut user_id: Option<(bool, i64, String)> = None;
    for user in &key.details.users {
        for sig in &user.signatures {
            if sig
                .verify_certification(primary, Tag::UserId, &user.id)
                .is_err()
            {
                continue;
            }
            if weak_hash(sig.hash_alg()) {
                weak_only = true;
                continue;
            }
            if newest.is_none_or(|n| created(sig) > created(n)) {
                newest = Some(sig);
            }
            let candidate = (
                sig.is_primary(),
                created(sig),
                String::from_utf8_lossy(user.id.id()).into_owned(),
            );
            if user_id
                .as_ref()
                .is_none_or(|u| (candidate.0, candidate.1) > (u.0, u.1))
            {
                user_id = Some(candidate);
            }
        }
    }
    for sig in &key.details.direct_signatures {
        if sig.verify_key(primary).is_ok() && !weak_hash(sig.hash_alg()) {
            if newest.is_none_or(|n| created(sig) > created(n)) {
                newest = Some(sig);
            }
        } else if sig.verify_key(primary).is_ok() {
            weak_only = true;
        }
    }
    let revoked = key
        .details
        .revocation_signatures
        .iter()
        .filter(|s| s.typ() == Some(SignatureType::KeyRevocation))
        .filter(|s| s.verify_key(primary).is_ok())
        .map(revocation)
        .min_by_key(|r| (r.soft, r.created));
    let primary_created = i64::from(primary.created_at().as_secs());
    let expiry = |created: i64, sig: Option<&Signature>| {
        sig.and_then(Signature::key_expiration_time)
            .map(|d| i64::from(d.as_secs()))
            .filter(|d| *d > 0)
            .map(|d| created + d)
    };
    let primary_refused = match newest {
        None if weak_only => Some(
            "its self-signatures use SHA-1 (or another broken hash), which is refused: \
             re-sign the key's user IDs with SHA-256 or better (gpg --cert-digest-algo SHA256 \
             --quick-set-expire, or a new key)"
                .to_string(),
        ),
        None => Some("it has no valid self-signature".to_string()),
        Some(_) => None,
    };
    let primary_signs = newest.is_some_and(|s| !has_key_flags(s) || s.key_flags().sign());
    let mut keys = vec![(
        SigningKey {
            key_id: hex::encode_upper(primary.legacy_key_id().as_ref()),
            fingerprint: fingerprint.clone(),
            subkey: false,
            created: primary_created,
            expires: expiry(primary_created, newest),
            revoked: revoked.clone(),
            refused: primary_refused.clone().or_else(|| {
                (!primary_signs).then(|| "the primary key is not flagged for signing".to_string())
            }),
        },
        ComponentKey::Primary(Box::new(key.clone())),
    )];
    for sub in &key.public_subkeys {
        let sub_created = i64::from(sub.key.created_at().as_secs());
        let mut weak = false;
        let binding = sub
            .signatures
            .iter()
            .filter(|s| s.typ() == Some(SignatureType::SubkeyBinding))
            .filter(|s| s.verify_subkey_binding(primary, &sub.key).is_ok())
            .filter(|s| {
                let strong = !weak_hash(s.hash_alg());
                weak |= !strong;
                strong
            })
            .max_by_key(|s| created(s));
        let sub_revoked = sub
            .signatures
            .iter()
            .filter(|s| s.typ() == Some(SignatureType::SubkeyRevocation))
            .filter(|s| s.verify_subkey_binding(primary, &sub.key).is_ok())
            .map(revocation)
            .min_by_key(|r| (r.soft, r.created));
        let refused = primary_refused
            .clone()
            .map(|r| format!("its certificate is refused: {r}"))
            .or_else(|| match binding {
                None if weak => Some("its binding signature uses SHA-1, which is refused".into()),
                None => Some("it has no valid binding signature".into()),
                Some(b) if !b.key_flags().sign() => {
                    Some("the subkey is not flagged for signing".into())
                }
                Some(b) => match b.embedded_signature() {
                    None => Some("the signing subkey has no back-signature".into()),
                    Some(back) if back.verify_primary_key_binding(&sub.key, primary).is_err() => {
                        Some("the signing subkey's back-signature does not verify".into())
                    }
                    Some(_) => None,
                },
            });
        // A subkey is revoked if it or its primary key is.
        let sub_revoked = match (sub_revoked, &revoked) {
            (Some(a), Some(b)) => Some(if (a.soft, a.created) <= (b.soft, b.created) {
                a
            } else {
                b.clone()
            }),
            (a, b) => a.or_else(|| b.clone()),
        };
        // A subkey expires with its binding, and never after its primary key.
        let primary_expires = expiry(primary_created, newest);
        let expires = match (expiry(sub_created, binding), primary_expires) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        keys.push((
            SigningKey {
                key_id: hex::encode_upper(sub.key.legacy_key_id().as_ref()),
                fingerprint: format!("{:X}", sub.key.fingerprint()),
                subkey: true,
                created: sub_created,
                expires,
                revoked: sub_revoked,
                refused,
            },
            ComponentKey::Subkey(Box::new(sub.key.clone())),
        ));
    }
    Certificate {
        source: source.to_string(),
        fingerprint,
        user_id: user_id.map(|u| u.2),
        keys,
    }
}

/// RFC 3339 for Unix seconds.
pub fn unix_to_rfc3339(secs: i64) -> String {
    jiff::Timestamp::from_second(secs)
        .map_or_else(|_| format!("{secs} (Unix time)"), |t| t.to_string())
}
