//! One `verify` block compiled into what the engine checks: an engine [`Policy`] (keys, or
//! keyless identities with `matchCertificate` on each) and the trust root, from Secret data the
//! caller already fetched. Shared by the policies ([`super::decide`]) and their attestation
//! requirements ([`super::attestations`]).

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::api::{CertificateMatch, OidcIdentity, PolicyVerify};
use crate::engine::claims::{CertificateRule, Claim};
use crate::engine::helm::Keyring;
use crate::engine::{IdentityRule, Policy, PublicKey};

/// Secret data already fetched by the caller: `(namespace, name)` → key → bytes.
pub type Secrets = BTreeMap<(String, String), BTreeMap<String, Vec<u8>>>;

/// The Secret key holding a private Sigstore's trust root (Flux's name).
pub const TRUSTED_ROOT_KEY: &str = "trusted_root.json";

/// Which trust root a policy verifies keyless signatures against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustRootInput {
    /// Sigstore public-good (embedded).
    PublicGood,
    /// A `trusted_root.json` from a Secret.
    Json {
        /// `namespace/name` of the Secret, for messages.
        secret: String,
        /// The file's bytes.
        json: Vec<u8>,
    },
}

impl TrustRootInput {
    /// Same value as `engine::TrustRoot::fingerprint` (sha256 of the JSON), without parsing.
    pub fn fingerprint(&self) -> String {
        let json = match self {
            TrustRootInput::PublicGood => {
                sigstore_verify::trust_root::SIGSTORE_PRODUCTION_TRUSTED_ROOT.as_bytes()
            }
            TrustRootInput::Json { json, .. } => json.as_slice(),
        };
        format!("sha256:{}", hex::encode(Sha256::digest(json)))
    }
}

/// A policy's `verify` (or an attestation requirement's): who may sign, with
/// `matchCertificate` on every identity, and the trust root.
pub fn compile_policy_verify(
    verify: &PolicyVerify,
    secrets: &Secrets,
) -> Result<(Policy, TrustRootInput), String> {
    let PolicyVerify {
        secret_ref,
        match_oidc_identity,
        trusted_root_secret_ref,
        match_certificate,
        openpgp,
        ..
    } = verify;
    if verify.provider == crate::api::VerifyProvider::Notation {
        let secret = super::compile_notation::require_secret(
            secret_ref
                .as_ref()
                .map(|r| (r.namespace.as_str(), r.name.as_str())),
        )?;
        let policy = super::compile_notation::notation_policy(secret, secrets)?;
        return Ok((policy, TrustRootInput::PublicGood));
    }
    accepts_someone(
        secret_ref.is_some() || openpgp.is_some(),
        match_oidc_identity,
    )?;
    if secret_ref.is_none() && match_oidc_identity.is_empty() {
        // OpenPGP keys only: no cosign signer is accepted (never keyless with no identity,
        // which would accept any).
        return Ok((
            Policy::Keys {
                keys: vec![],
                require_tlog: false,
            },
            trust_root(None, secrets)?,
        ));
    }
    let identities: Vec<(String, String)> = match_oidc_identity
        .iter()
        .map(|i| (i.issuer.clone(), i.subject.clone()))
        .collect();
    let key_secret = secret_ref
        .as_ref()
        .map(|r| (r.namespace.as_str(), r.name.as_str()));
    let root_secret = trusted_root_secret_ref
        .as_ref()
        .map(|r| (r.namespace.as_str(), r.name.as_str()));
    let claims = certificate_rule(match_certificate.as_ref())?;
    let policy = match compile_verify(key_secret, &identities, secrets)? {
        Policy::Keyless { identities } => Policy::Keyless {
            identities: identities
                .into_iter()
                .map(|i| i.with_certificate(claims.clone()))
                .collect(),
        },
        other => other,
    };
    Ok((policy, trust_root(root_secret, secrets)?))
}

/// A `ProvenancePolicy` must say who may sign: a key Secret, or at least one identity whose
/// issuer and subject regexes are both non-empty. With neither it would compile to keyless with
/// no identity, which accepts any certificate the trust root knows — an attacker's own CI
/// workflow included. The CRD rejects such a policy at admission (`x-kubernetes-validations`);
/// this is the same rule for one stored before the rule existed, or read from a file.
///
/// (A source's own `spec.verify` is not held to it: there "no identity" is Flux's any-signer
/// mode, audited as such and reported weak by `Enforced`.)
fn accepts_someone(has_key: bool, identities: &[OidcIdentity]) -> Result<(), String> {
    if has_key {
        return Ok(());
    }
    if identities.is_empty() {
        return Err("verify names neither a key (secretRef) nor an identity \
                    (matchOIDCIdentity): it would accept any signer"
            .into());
    }
    if identities
        .iter()
        .any(|i| i.issuer.is_empty() || i.subject.is_empty())
    {
        return Err(
            "a matchOIDCIdentity entry has an empty issuer or subject regex, which \
                    matches any signer"
                .into(),
        );
    }
    Ok(())
}

/// A policy's OpenPGP keyring (`verify.openpgp`): every entry of its Secret, armored or binary
/// keys. `None` when the policy names none (it then accepts no `.prov` signer).
pub fn compile_openpgp(
    verify: &PolicyVerify,
    secrets: &Secrets,
) -> Result<Option<Keyring>, String> {
    let Some(o) = &verify.openpgp else {
        return Ok(None);
    };
    let r = &o.secret_ref;
    let data = secret_data((&r.namespace, &r.name), secrets)?;
    let entries: Vec<(String, Vec<u8>)> = data
        .iter()
        .map(|(k, v)| (format!("{r}[{k}]"), v.clone()))
        .collect();
    if entries.is_empty() {
        return Err(format!("Secret {r} holds no OpenPGP key"));
    }
    Keyring::read(&entries)
        .map(Some)
        .map_err(|e| format!("verify.openpgp: {e}"))
}

/// `matchCertificate` as a rule.
pub fn certificate_rule(m: Option<&CertificateMatch>) -> Result<CertificateRule, String> {
    let Some(m) = m else {
        return Ok(CertificateRule::default());
    };
    let pairs = [
        (Claim::SourceRepository, &m.source_repository),
        (Claim::SourceRef, &m.source_ref),
        (Claim::SourceDigest, &m.source_digest),
        (Claim::SignerWorkflow, &m.signer_workflow),
        (Claim::BuildConfig, &m.build_config),
        (Claim::Trigger, &m.trigger),
        (Claim::RunnerEnvironment, &m.runner_environment),
    ];
    CertificateRule::new(
        pairs
            .iter()
            .filter_map(|(c, re)| re.as_deref().map(|re| (*c, re))),
    )
    .map_err(|e| format!("matchCertificate: {e}"))
}

/// Flux's rule: a key Secret wins and identities are then ignored; otherwise keyless.
pub(super) fn compile_verify(
    key_secret: Option<(&str, &str)>,
    identities: &[(String, String)],
    secrets: &Secrets,
) -> Result<Policy, String> {
    if let Some(secret) = key_secret {
        let data = secret_data(secret, secrets)?;
        let keys = data
            .iter()
            .filter(|(k, _)| k.ends_with(".pub"))
            .map(|(k, pem)| PublicKey::from_pem(k, pem).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err(format!(
                "Secret {}/{} has no *.pub entry",
                secret.0, secret.1
            ));
        }
        // Flux's key mode never consults the log; the audit judges by the same rule.
        return Ok(Policy::Keys {
            keys,
            require_tlog: false,
        });
    }
    let identities = identities
        .iter()
        .map(|(i, s)| IdentityRule::new(i, s).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    Ok(Policy::Keyless { identities })
}

pub(super) fn trust_root(
    secret: Option<(&str, &str)>,
    secrets: &Secrets,
) -> Result<TrustRootInput, String> {
    let Some(secret) = secret else {
        return Ok(TrustRootInput::PublicGood);
    };
    let json = secret_data(secret, secrets)?
        .get(TRUSTED_ROOT_KEY)
        .ok_or_else(|| format!("Secret {}/{} has no {TRUSTED_ROOT_KEY}", secret.0, secret.1))?;
    Ok(TrustRootInput::Json {
        secret: format!("{}/{}", secret.0, secret.1),
        json: json.clone(),
    })
}

fn secret_data<'a>(
    (ns, name): (&str, &str),
    secrets: &'a Secrets,
) -> Result<&'a BTreeMap<String, Vec<u8>>, String> {
    secrets
        .get(&(ns.to_string(), name.to_string()))
        .ok_or_else(|| format!("Secret {ns}/{name} not found"))
}
