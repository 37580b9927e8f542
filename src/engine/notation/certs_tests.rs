//! Each Notary Project certificate rule refused by one chain (tests/data/notation/chains, made
//! by its make.sh with openssl), and the one good chain accepted.

use super::*;

fn chain(name: &str) -> Vec<Cert> {
    let path = format!(
        "{}/tests/data/notation/chains/{name}.pem",
        env!("CARGO_MANIFEST_DIR")
    );
    Cert::from_pem_or_der(&std::fs::read(path).unwrap()).unwrap()
}

fn refused(name: &str) -> String {
    validate_code_signing_chain(&chain(name)).expect_err(name)
}

#[test]
fn a_leaf_intermediate_root_chain_by_the_rules_is_accepted() {
    let good = chain("good");
    assert_eq!(good.len(), 3);
    validate_code_signing_chain(&good).unwrap();
    assert_eq!(good[0].key_spec().unwrap(), KeySpec::Ec(256));
    let attrs = good[0].subject_attributes().unwrap();
    assert_eq!(attrs["O"], "Provenance Test");
    assert_eq!(attrs["CN"], "leaf");
}

#[test]
fn a_ca_as_signing_certificate_is_refused() {
    assert!(refused("leaf-ca").contains("must not be a CA"));
    assert!(refused("self-signed-leaf").contains("must not be a CA"));
}

#[test]
fn the_leaf_key_usage_must_be_present_critical_and_digital_signature_only() {
    assert!(refused("leaf-no-ku").contains("key usage extension must be present"));
    assert!(refused("leaf-ku-not-critical").contains("marked critical"));
    assert!(refused("leaf-ku-no-digital-signature").contains("digitalSignature"));
    assert!(refused("leaf-ku-key-agreement").contains("keyAgreement"));
}

#[test]
fn the_leaf_extended_key_usage_must_not_be_for_tls_or_timestamps() {
    assert!(refused("leaf-eku-server-auth").contains("serverAuth"));
    assert!(refused("leaf-eku-time-stamping").contains("timeStamping"));
}

#[test]
fn small_rsa_keys_are_refused() {
    assert!(refused("leaf-rsa1024").contains("1024 bits"));
}

#[test]
fn every_issuer_must_be_a_ca_allowed_to_sign_certificates() {
    assert!(refused("intermediate-not-ca").contains("not a CA"));
    assert!(refused("intermediate-without-keycertsign").contains("keyCertSign"));
}

#[test]
fn a_path_length_constraint_is_respected() {
    assert!(refused("path-length-exceeded").contains("path length"));
}

#[test]
fn the_chain_must_be_in_order_and_end_in_a_self_signed_root() {
    assert!(refused("no-root").contains("self-signed root"));
    assert!(refused("out-of-order").contains("not issued by"));
    assert!(validate_code_signing_chain(&[]).is_err());
    let long: Vec<Cert> = std::iter::repeat_n(chain("good").remove(0), MAX_CHAIN + 1).collect();
    assert!(validate_code_signing_chain(&long)
        .unwrap_err()
        .contains("at most"));
}

#[test]
fn garbage_is_not_a_certificate() {
    assert!(Cert::from_pem_or_der(b"not a certificate").is_err());
    assert!(Cert::from_pem_or_der(
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    )
    .is_err());
}
