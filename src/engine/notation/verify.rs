//! One Notation signature judged, in notation-go's order: the trust policy statement for the
//! repository (none → no policy for it; level `skip` → nothing verified), integrity (the
//! envelope, the chain's structure, the signature), authenticity (a chain certificate in the
//! trust store, the leaf's subject among `trustedIdentities`), expiry, the authentic signing
//! time, revocation, and last what the signature is about (`targetArtifact`). Each check's
//! failure fails the signature where the level enforces it and is reported where it logs it.
//!
//! Verdicts: a chain to no trust-store certificate → `UntrustedSigner` (also an expired or
//! not-yet-valid signing certificate); a subject not trusted → `IdentityMismatch`; a bad
//! envelope, chain or signature, or an enforced expiry → `SignatureInvalid`; another digest →
//! `DigestMismatch`; what cannot be checked here (enforced revocation of a chain with OCSP/CRL
//! endpoints, a TSA chain with them, a verification plugin) → `TrustRootError` (could not
//! tell). A required RFC 3161 timestamp ([`super::timestamp`]) that is missing, forged or about
//! another signature → `SignatureInvalid`; by a TSA outside the `tsa` trust store, or a signing
//! chain not valid throughout its time → `UntrustedSigner`; all under the level's
//! `authenticTimestamp` action, as in notation-go. An authenticity failure that the level only logs (`audit`) is still not
//! `Verified`: Flux then serves the artifact without marking it verified.

use serde::Deserialize;

use super::certs;
use super::envelope::{self, EnvelopeError, SigningScheme};
use super::store::NotationPolicy;
use super::timestamp;
use super::trust_policy::{Action, Check, Identities, Statement};
use crate::engine::evidence::{SignatureEvidence, SignatureFormat, Signer};
use crate::engine::Verdict;
use crate::registry::SignatureLocation;

/// The signed payload.
#[derive(Deserialize)]
struct Payload {
    #[serde(rename = "targetArtifact")]
    target_artifact: TargetArtifact,
}

#[derive(Deserialize)]
struct TargetArtifact {
    digest: String,
}

/// One signature to judge.
pub struct Signature<'a> {
    /// Where it was found.
    pub location: SignatureLocation,
    /// The envelope's media type.
    pub media_type: &'a str,
    /// The envelope bytes.
    pub envelope: &'a [u8],
}

/// Judges one Notation signature of `digest` in `scope` (`registry/repository`, the trust
/// policy's registry scope) at Unix time `now`; with no policy, only its integrity and digest
/// are checked (`NoPolicy` at best).
pub fn judge(
    sig: &Signature<'_>,
    digest: &str,
    scope: &str,
    policy: Option<&NotationPolicy>,
    now: i64,
) -> SignatureEvidence {
    let mut signer = Signer::default();
    let (verdict, message) = match judged(sig, digest, scope, policy, now, &mut signer) {
        Ok(m) => (Verdict::Verified, m),
        Err((v, m)) => (v, m),
    };
    SignatureEvidence {
        location: sig.location,
        format: SignatureFormat::Notation,
        signer,
        ci: None,
        tlog: None,
        verdict,
        message: crate::registry::bounded::cap(message),
    }
}

type Judged = Result<String, (Verdict, String)>;

fn judged(
    sig: &Signature<'_>,
    digest: &str,
    scope: &str,
    policy: Option<&NotationPolicy>,
    now: i64,
    signer: &mut Signer,
) -> Judged {
    let statement = match policy {
        None => None,
        Some(p) => match p.trust_policy.applicable(scope) {
            None => {
                return Err((
                    Verdict::NoPolicy,
                    format!(
                        "the trust policy ({}) has no statement for {scope} (nor a '*' one)",
                        p.source
                    ),
                ))
            }
            Some(s) if s.level.is_skip() => {
                return Err((
                    Verdict::NoPolicy,
                    format!(
                        "trust policy statement {:?} skips verification for {scope} (level skip): nothing was verified",
                        s.name
                    ),
                ))
            }
            Some(s) => Some(s),
        },
    };
    let env = super::read::parse(sig.media_type, sig.envelope).map_err(|e| match e {
        EnvelopeError::Invalid(m) => (Verdict::SignatureInvalid, m),
        EnvelopeError::Unsupported(m) => {
            (Verdict::TrustRootError, format!("cannot be checked: {m}"))
        }
    })?;
    let leaf = &env.chain[0];
    signer.subject = Some(format!("x509.subject: {}", leaf.subject()));
    integrity(&env).map_err(|m| (Verdict::SignatureInvalid, m))?;
    let payload: Payload = serde_json::from_slice(&env.payload).map_err(|e| {
        (
            Verdict::SignatureInvalid,
            format!("the signed payload is not a Notary payload: {e}"),
        )
    })?;
    let about = |verdict_if_ok: &str| -> Result<(), (Verdict, String)> {
        if payload.target_artifact.digest != digest {
            return Err((
                Verdict::DigestMismatch,
                format!(
                    "the signature is about {}, not {digest}{verdict_if_ok}",
                    crate::registry::bounded::truncate(&payload.target_artifact.digest)
                ),
            ));
        }
        Ok(())
    };
    let (Some(policy), Some(statement)) = (policy, statement) else {
        about("")?;
        return Err((
            Verdict::NoPolicy,
            format!(
                "a valid {} signature by {}; no trust policy to judge it against",
                env.format,
                leaf.subject()
            ),
        ));
    };
    let mut logged = vec![];
    let mut timestamped = None;
    // Authenticity: logged failures are remembered, since Flux never calls them verified.
    let authentic = authenticity(&env, statement, policy);
    let authenticity_logged = match authentic {
        Ok(()) => None,
        Err(e) => match statement.level.action(Check::Authenticity) {
            Action::Enforce => return Err(e),
            Action::Log | Action::Skip => Some(e),
        },
    };
    {
        let mut outcome = Outcome {
            statement,
            logged: &mut logged,
        };
        outcome.check(Check::Expiry, expiry(&env, now))?;
        outcome.check(
            Check::AuthenticTimestamp,
            authentic_time(&env, statement, policy, now).map(|t| timestamped = t),
        )?;
        if statement.level.action(Check::Revocation) != Action::Skip {
            outcome.check(Check::Revocation, revocation(&env))?;
        }
    }
    about("")?;
    let notes = if logged.is_empty() {
        String::new()
    } else {
        format!("; logged, not enforced: {}", logged.join("; "))
    };
    if let Some((verdict, m)) = authenticity_logged {
        return Err((
            verdict,
            format!(
                "{m} (logged, not enforced, at level {}: Flux serves the artifact without verifying it){notes}",
                statement.level.name
            ),
        ));
    }
    Ok(format!(
        "{} signature by {}, trusted by statement {:?} (level {}){}{notes}",
        env.format,
        leaf.subject(),
        statement.name,
        statement.level.name,
        timestamped.unwrap_or_default()
    ))
}

/// The enforce-or-log bookkeeping of one statement.
struct Outcome<'a> {
    statement: &'a Statement,
    logged: &'a mut Vec<String>,
}

impl Outcome<'_> {
    fn check(
        &mut self,
        check: Check,
        r: Result<(), (Verdict, String)>,
    ) -> Result<(), (Verdict, String)> {
        let Err((verdict, m)) = r else { return Ok(()) };
        match self.statement.level.action(check) {
            Action::Enforce => Err((
                verdict,
                format!(
                    "{m} ({} is enforced at level {})",
                    check.as_str(),
                    self.statement.level.name
                ),
            )),
            Action::Log => {
                self.logged.push(format!("{}: {m}", check.as_str()));
                Ok(())
            }
            Action::Skip => Ok(()),
        }
    }
}

fn integrity(env: &envelope::Envelope) -> Result<(), String> {
    certs::validate_code_signing_chain(&env.chain)
        .map_err(|e| format!("the certificate chain is invalid: {e}"))?;
    let leaf = &env.chain[0];
    let spec = leaf.key_spec()?;
    if spec.algorithm() != env.algorithm {
        return Err(format!(
            "the envelope says {} but the signing certificate's key signs with {}",
            env.algorithm,
            spec.algorithm()
        ));
    }
    leaf.verify_envelope_signature(env.algorithm, &env.signing_input, &env.signature)
}

fn authenticity(
    env: &envelope::Envelope,
    statement: &Statement,
    policy: &NotationPolicy,
) -> Result<(), (Verdict, String)> {
    let store_type = match env.scheme {
        SigningScheme::X509 => "ca",
        SigningScheme::SigningAuthority => "signingAuthority",
    };
    if !statement.store_types.iter().any(|t| t == store_type) {
        return Err((
            Verdict::UntrustedSigner,
            format!(
                "statement {:?} names no {store_type} trust store, so nothing can be trusted for this signature",
                statement.name
            ),
        ));
    }
    let trusted = env
        .chain
        .iter()
        .any(|c| policy.certificates.iter().any(|t| t.der == c.der));
    if !trusted {
        return Err((
            Verdict::UntrustedSigner,
            format!(
                "no certificate of the chain of {} is in the trust store ({})",
                env.chain[0].subject(),
                policy.source
            ),
        ));
    }
    let Identities::Subjects(subjects) = &statement.identities else {
        return Ok(());
    };
    if subjects.is_empty() {
        return Err((
            Verdict::IdentityMismatch,
            format!(
                "statement {:?} has no x509.subject trusted identity",
                statement.name
            ),
        ));
    }
    let attrs = env.chain[0].subject_attributes().map_err(|e| {
        (
            Verdict::IdentityMismatch,
            format!("signing certificate: {e}"),
        )
    })?;
    if subjects.iter().any(|(_, dn)| dn.matches_subject(&attrs)) {
        return Ok(());
    }
    Err((
        Verdict::IdentityMismatch,
        format!(
            "signed by {}, which is not among the trusted identities of statement {:?}",
            env.chain[0].subject(),
            statement.name
        ),
    ))
}

fn expiry(env: &envelope::Envelope, now: i64) -> Result<(), (Verdict, String)> {
    match env.expiry {
        Some(e) if now >= e => Err((
            Verdict::SignatureInvalid,
            format!("the signature expired at {}", rfc3339(e)),
        )),
        _ => Ok(()),
    }
}

fn authentic_time(
    env: &envelope::Envelope,
    statement: &Statement,
    policy: &NotationPolicy,
    now: i64,
) -> Result<Option<String>, (Verdict, String)> {
    let validity = |at: i64, what: &str| {
        for c in &env.chain {
            let (from, to) = c.validity();
            if at < from || at > to {
                return Err((
                    Verdict::UntrustedSigner,
                    format!(
                        "certificate {} is valid from {} to {}, not at {what} {}",
                        c.subject(),
                        rfc3339(from),
                        rfc3339(to),
                        rfc3339(at)
                    ),
                ));
            }
        }
        Ok(())
    };
    if env.scheme == SigningScheme::SigningAuthority {
        return validity(env.signing_time, "the authentic signing time").map(|()| None);
    }
    let tsa = statement.store_types.iter().any(|t| t == "tsa");
    let chain_expired = env.chain.iter().any(|c| now > c.validity().1);
    let needs_timestamp = tsa && (!statement.timestamp_after_cert_expiry || chain_expired);
    if !needs_timestamp {
        return validity(now, "the time of verification").map(|()| None);
    }
    let Some(token) = &env.timestamp else {
        return Err((
            Verdict::SignatureInvalid,
            "the trust policy needs a timestamp countersignature and the signature has none".into(),
        ));
    };
    // Every named store holds all the certificates (Flux's layout), so the `tsa` store is all
    // of them.
    let ts = timestamp::verify(token, &env.signature, &policy.certificates)?;
    for c in &env.chain {
        let (from, to) = c.validity();
        if !ts.within(from, to) {
            return Err((
                Verdict::UntrustedSigner,
                format!(
                    "certificate {} is valid from {} to {}, not throughout the timestamp {} ± {} ms by {}",
                    c.subject(),
                    rfc3339(from),
                    rfc3339(to),
                    rfc3339(ts.gen_time_us.div_euclid(1_000_000)),
                    ts.accuracy_us / 1_000,
                    ts.tsa
                ),
            ));
        }
    }
    Ok(Some(format!(
        ", timestamped by {} at {}",
        ts.tsa,
        rfc3339(ts.gen_time_us.div_euclid(1_000_000))
    )))
}

fn revocation(env: &envelope::Envelope) -> Result<(), (Verdict, String)> {
    match env.chain.iter().find(|c| c.has_revocation_endpoints()) {
        None => Ok(()),
        Some(c) => Err((
            Verdict::TrustRootError,
            format!(
                "certificate {} names OCSP or CRL endpoints, and revocation is not checked",
                c.subject()
            ),
        )),
    }
}

fn rfc3339(secs: i64) -> String {
    jiff::Timestamp::from_second(secs)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| secs.to_string())
}
