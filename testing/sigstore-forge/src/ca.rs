//! The instance itself: a Fulcio-like CA (root + intermediate), the Rekor and CT log keys, the
//! `trusted_root.json` describing them, and Fulcio-style leaf certificates.

use crate::{b64, Result};
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SanType,
    SerialNumber, PKCS_ECDSA_P256_SHA256,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

/// Fulcio's OID arc for certificate extensions (`1.3.6.1.4.1.57264.1.N`).
const FULCIO_ARC: [u64; 8] = [1, 3, 6, 1, 4, 1, 57264, 1];

/// One CA certificate with its key.
pub(crate) struct Authority {
    pub(crate) params: CertificateParams,
    pub(crate) key: KeyPair,
    pub(crate) pem: String,
    pub(crate) der: Vec<u8>,
}

/// A private Sigstore deployment: CA, Rekor log key, CT log key. See the crate docs.
pub struct PrivateSigstore {
    pub(crate) name: String,
    /// Start of every validity window (CA certificates, log keys in the trusted root).
    pub(crate) epoch: OffsetDateTime,
    pub(crate) root: Authority,
    pub(crate) intermediate: Authority,
    pub(crate) rekor_key: KeyPair,
    pub(crate) ct_key: KeyPair,
}

/// The certificate identity (SAN).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// A URI SAN, e.g. a GitHub workflow `https://github.com/o/r/.github/workflows/w.yml@refs/heads/main`.
    Uri(String),
    /// An email SAN.
    Email(String),
}

/// Fulcio CI-claim extensions `1.3.6.1.4.1.57264.1.9`–`.1.22`, each a DER UTF8String.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CiClaims {
    /// `.1.9` BuildSignerURI.
    pub build_signer_uri: Option<String>,
    /// `.1.10` BuildSignerDigest.
    pub build_signer_digest: Option<String>,
    /// `.1.11` RunnerEnvironment.
    pub runner_environment: Option<String>,
    /// `.1.12` SourceRepositoryURI.
    pub source_repository_uri: Option<String>,
    /// `.1.13` SourceRepositoryDigest.
    pub source_repository_digest: Option<String>,
    /// `.1.14` SourceRepositoryRef.
    pub source_repository_ref: Option<String>,
    /// `.1.15` SourceRepositoryIdentifier.
    pub source_repository_identifier: Option<String>,
    /// `.1.16` SourceRepositoryOwnerURI.
    pub source_repository_owner_uri: Option<String>,
    /// `.1.17` SourceRepositoryOwnerIdentifier.
    pub source_repository_owner_identifier: Option<String>,
    /// `.1.18` BuildConfigURI.
    pub build_config_uri: Option<String>,
    /// `.1.19` BuildConfigDigest.
    pub build_config_digest: Option<String>,
    /// `.1.20` BuildTrigger.
    pub build_trigger: Option<String>,
    /// `.1.21` RunInvocationURI.
    pub run_invocation_uri: Option<String>,
    /// `.1.22` SourceRepositoryVisibilityAtSigning.
    pub source_repository_visibility_at_signing: Option<String>,
}

impl CiClaims {
    /// `(last OID component, value)` of every claim that is set.
    fn extensions(&self) -> Vec<(u64, &str)> {
        let fields = [
            &self.build_signer_uri,
            &self.build_signer_digest,
            &self.runner_environment,
            &self.source_repository_uri,
            &self.source_repository_digest,
            &self.source_repository_ref,
            &self.source_repository_identifier,
            &self.source_repository_owner_uri,
            &self.source_repository_owner_identifier,
            &self.build_config_uri,
            &self.build_config_digest,
            &self.build_trigger,
            &self.run_invocation_uri,
            &self.source_repository_visibility_at_signing,
        ];
        (9u64..)
            .zip(fields)
            .filter_map(|(n, v)| v.as_deref().map(|v| (n, v)))
            .collect()
    }
}

/// What to put in a leaf certificate. Build with [`LeafSpec::uri`] / [`LeafSpec::email`].
#[derive(Debug, Clone)]
pub struct LeafSpec {
    /// SAN identity.
    pub san: Identity,
    /// OIDC issuer (extensions `.1.1` raw and `.1.8` UTF8String).
    pub issuer: String,
    /// CI claims.
    pub ci: CiClaims,
    /// Default: one minute ago (Fulcio: now).
    pub not_before: Option<OffsetDateTime>,
    /// Default: `not_before` + 10 minutes, like Fulcio.
    pub not_after: Option<OffsetDateTime>,
    /// Embed an SCT from the instance's CT log (default true; false for a negative case).
    pub sct: bool,
    /// Leave the SAN out (default false; true for a negative case: Fulcio never does).
    pub omit_san: bool,
    /// Leave the OIDC issuer extensions out (default false; true for a negative case).
    pub omit_issuer: bool,
}

impl LeafSpec {
    /// A leaf for a URI identity (CI workloads).
    pub fn uri(uri: &str, issuer: &str) -> Self {
        Self::new(Identity::Uri(uri.to_string()), issuer)
    }
    /// A leaf for an email identity (humans).
    pub fn email(email: &str, issuer: &str) -> Self {
        Self::new(Identity::Email(email.to_string()), issuer)
    }
    fn new(san: Identity, issuer: &str) -> Self {
        Self {
            san,
            issuer: issuer.to_string(),
            ci: CiClaims::default(),
            not_before: None,
            not_after: None,
            sct: true,
            omit_san: false,
            omit_issuer: false,
        }
    }
}

/// A leaf certificate and its private key.
pub struct Leaf {
    /// The signing key (P-256).
    pub key: KeyPair,
    /// The leaf certificate, PEM.
    pub cert_pem: String,
    /// The leaf certificate, DER.
    pub cert_der: Vec<u8>,
    /// Intermediate then root, PEM (what cosign puts in `dev.sigstore.cosign/chain`).
    pub chain_pem: String,
    /// Validity start.
    pub not_before: OffsetDateTime,
    /// Validity end.
    pub not_after: OffsetDateTime,
}

pub(crate) fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("0 is a valid nanosecond")
}

/// The parameters of the root (`intermediate == false`) or intermediate CA certificate. They
/// are a pure function of name and epoch so that a saved instance can re-create its issuers.
pub(crate) fn ca_params(
    name: &str,
    intermediate: bool,
    epoch: OffsetDateTime,
) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, name);
    let cn = if intermediate {
        "sigstore-intermediate"
    } else {
        "sigstore"
    };
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    params.not_before = epoch;
    params.not_after = epoch + Duration::days(3650);
    params.serial_number = Some(SerialNumber::from_slice(&[1, u8::from(intermediate) + 1]));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    if intermediate {
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        // Fulcio's intermediate carries codeSigning too; chain builders check EKU nesting.
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        params.use_authority_key_identifier_extension = true;
    } else {
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    }
    params
}

fn new_key() -> Result<KeyPair> {
    Ok(KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?)
}

fn der_utf8(value: &str) -> Result<Vec<u8>> {
    use der::Encode;
    Ok(der::asn1::Utf8StringRef::new(value)?.to_der()?)
}

fn fulcio_ext(n: u64, content: Vec<u8>) -> CustomExtension {
    let mut oid = FULCIO_ARC.to_vec();
    oid.push(n);
    CustomExtension::from_oid_content(&oid, content)
}

impl PrivateSigstore {
    /// A new instance: P-256 root and intermediate CA valid from an hour ago for ten years,
    /// P-256 Rekor and CT log keys. `name` becomes the CA organization and the log hostnames.
    pub fn generate(name: &str) -> Result<Self> {
        let epoch = now() - Duration::hours(1);
        let root_params = ca_params(name, false, epoch);
        let root_key = new_key()?;
        let root_cert = root_params.self_signed(&root_key)?;
        let inter_params = ca_params(name, true, epoch);
        let inter_key = new_key()?;
        let inter_cert =
            inter_params.signed_by(&inter_key, &Issuer::from_params(&root_params, &root_key))?;
        Ok(Self {
            name: name.to_string(),
            epoch,
            root: Authority {
                pem: root_cert.pem(),
                der: root_cert.der().to_vec(),
                params: root_params,
                key: root_key,
            },
            intermediate: Authority {
                pem: inter_cert.pem(),
                der: inter_cert.der().to_vec(),
                params: inter_params,
                key: inter_key,
            },
            rekor_key: new_key()?,
            ct_key: new_key()?,
        })
    }

    /// The instance name given to [`Self::generate`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Root CA certificate, PEM.
    pub fn root_pem(&self) -> &str {
        &self.root.pem
    }

    /// Intermediate then root, PEM.
    pub fn chain_pem(&self) -> String {
        format!("{}{}", self.intermediate.pem, self.root.pem)
    }

    /// Rekor public key, PEM (SPKI).
    pub fn rekor_public_key_pem(&self) -> String {
        self.rekor_key.public_key_pem()
    }

    /// CT log public key, PEM (SPKI).
    pub fn ct_public_key_pem(&self) -> String {
        self.ct_key.public_key_pem()
    }

    /// The Rekor log ID: SHA-256 of the log key's PKIX DER.
    pub fn rekor_log_id(&self) -> [u8; 32] {
        Sha256::digest(self.rekor_key.subject_public_key_info()).into()
    }

    /// Hostname the Rekor log claims (checkpoint origin, `baseUrl`).
    pub fn rekor_host(&self) -> String {
        format!("rekor.{}.invalid", self.name)
    }

    /// A Sigstore `trusted_root.json` (media type
    /// `application/vnd.dev.sigstore.trustedroot+json;version=0.1`) for this instance.
    pub fn trusted_root_json(&self) -> String {
        let start = self
            .epoch
            .format(&time::format_description::well_known::Rfc3339)
            .expect("a UTC time formats as RFC 3339");
        let log = |key: &KeyPair, url: String| {
            let spki = key.subject_public_key_info();
            json!({
                "baseUrl": url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": b64(&spki),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": {"start": start}
                },
                "logId": {"keyId": b64(Sha256::digest(&spki))}
            })
        };
        let root = json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [log(&self.rekor_key, format!("https://{}", self.rekor_host()))],
            "certificateAuthorities": [{
                "subject": {"organization": self.name, "commonName": "sigstore"},
                "uri": format!("https://fulcio.{}.invalid", self.name),
                "certChain": {"certificates": [
                    {"rawBytes": b64(&self.intermediate.der)},
                    {"rawBytes": b64(&self.root.der)}
                ]},
                "validFor": {"start": start}
            }],
            "ctlogs": [log(&self.ct_key, format!("https://ctfe.{}.invalid", self.name))],
            "timestampAuthorities": []
        });
        serde_json::to_string_pretty(&root).expect("JSON values serialize")
    }

    /// Issues a Fulcio-style leaf: EKU codeSigning, the SAN, issuer in `.1.1` (raw) and `.1.8`
    /// (UTF8String), the CI claims, an embedded SCT; signed by the intermediate.
    pub fn issue_leaf(&self, spec: &LeafSpec) -> Result<Leaf> {
        let key = new_key()?;
        let not_before = spec
            .not_before
            .unwrap_or_else(|| now() - Duration::minutes(1));
        let not_after = spec.not_after.unwrap_or(not_before + Duration::minutes(10));
        let mut params = CertificateParams::default();
        // Fulcio leaves have an empty subject; rcgen then marks the SAN critical, as RFC 5280 asks.
        params.distinguished_name = DistinguishedName::new();
        params.not_before = not_before;
        params.not_after = not_after;
        let mut serial = Sha256::digest(key.subject_public_key_info())[..16].to_vec();
        serial[0] &= 0x7f;
        params.serial_number = Some(SerialNumber::from_slice(&serial));
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        params.use_authority_key_identifier_extension = true;
        if !spec.omit_san {
            params.subject_alt_names = vec![match &spec.san {
                Identity::Uri(u) => SanType::URI(u.as_str().try_into()?),
                Identity::Email(e) => SanType::Rfc822Name(e.as_str().try_into()?),
            }];
        }
        let mut exts = vec![];
        if !spec.omit_issuer {
            exts.push(fulcio_ext(1, spec.issuer.as_bytes().to_vec()));
            exts.push(fulcio_ext(8, der_utf8(&spec.issuer)?));
        }
        for (n, value) in spec.ci.extensions() {
            exts.push(fulcio_ext(n, der_utf8(value)?));
        }
        params.custom_extensions = exts;

        let issuer = Issuer::from_params(&self.intermediate.params, &self.intermediate.key);
        let cert = if spec.sct {
            let ts = (not_before.unix_timestamp() as u64) * 1000;
            let spki = self.intermediate.key.subject_public_key_info();
            crate::sct::issue_with_sct(&params, &key, &issuer, &spki, &self.ct_key, ts)?
        } else {
            params.signed_by(&key, &issuer)?
        };
        Ok(Leaf {
            key,
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            chain_pem: self.chain_pem(),
            not_before,
            not_after,
        })
    }
}

impl Leaf {
    /// The leaf's private key, PKCS#8 PEM.
    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }
}
