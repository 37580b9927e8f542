//! The `.prov` parser on real documents (gpg-made, `tests/data/helm/make-fixtures.sh`) and on
//! hostile ones: truncated armor, several signatures, several `files:` entries, CRLF, huge
//! files, and arbitrary bytes (property tests: never a panic, always bounded).

use proptest::prelude::*;

use super::*;

const SIGNED: &[u8] = include_bytes!("../../../tests/data/helm/signed.prov");
const CRLF: &[u8] = include_bytes!("../../../tests/data/helm/crlf.prov");
const TWO: &[u8] = include_bytes!("../../../tests/data/helm/two-signatures.prov");
const SEVERAL: &[u8] = include_bytes!("../../../tests/data/helm/several-files.prov");

fn text(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap()
}

#[test]
fn a_gpg_signed_helm_body_parses_into_chart_name_version_and_files() {
    let p = parse(SIGNED).unwrap();
    assert_eq!(p.signatures.len(), 1);
    let body = p.body.unwrap();
    assert_eq!(body.metadata.name, "demo");
    assert_eq!(body.metadata.version, "0.1.0");
    assert_eq!(body.files.len(), 1);
    assert!(body.files["demo-0.1.0.tgz"].starts_with("sha256:"));
    assert!(p.signed_text.contains("\r\n"), "the signed text is CRLF");
}

#[test]
fn crlf_documents_read_the_same_as_lf_ones() {
    let (a, b) = (parse(SIGNED).unwrap(), parse(CRLF).unwrap());
    assert_eq!(a.signed_text, b.signed_text);
    assert_eq!(a.body.unwrap(), b.body.unwrap());
}

#[test]
fn two_signatures_are_both_kept() {
    assert_eq!(parse(TWO).unwrap().signatures.len(), 2);
}

#[test]
fn several_files_entries_are_all_kept_by_name() {
    let body = parse(SEVERAL).unwrap().body.unwrap();
    assert_eq!(
        body.files.keys().collect::<Vec<_>>(),
        ["README.md", "demo-0.1.0.tgz"]
    );
}

#[test]
fn truncated_armor_is_an_armor_error_wherever_it_is_cut() {
    // Every cut inside the signature block (its end line included) fails to parse.
    let start = text(SIGNED).find("-----BEGIN PGP SIGNATURE").unwrap();
    for cut in (start..SIGNED.len() - 2).step_by(7) {
        match parse(&SIGNED[..cut]) {
            Err(ProvError::Armor(_)) | Err(ProvError::SignatureCount(0)) => {}
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
}

#[test]
fn a_missing_signature_block_or_trailing_data_is_refused() {
    let t = text(SIGNED);
    let body_only = &t[..t.find("-----BEGIN PGP SIGNATURE").unwrap()];
    assert!(matches!(
        parse(body_only.as_bytes()),
        Err(ProvError::Armor(_))
    ));
    let trailing = format!("{t}\nmore text that no signature covers\n");
    assert!(parse(trailing.as_bytes()).is_err());
}

#[test]
fn huge_files_are_refused_before_parsing() {
    let mut big = SIGNED.to_vec();
    big.resize(MAX_PROV_BYTES + 1, b' ');
    assert_eq!(
        parse(&big).unwrap_err(),
        ProvError::TooLarge(MAX_PROV_BYTES + 1)
    );
}

#[test]
fn non_utf8_is_refused() {
    assert_eq!(parse(&[0xff, 0xfe, 0x00]).unwrap_err(), ProvError::NotText);
}

#[test]
fn a_body_without_the_separator_or_files_is_a_body_error() {
    for body in [
        "name: demo\nversion: 0.1.0\n",
        "name: demo\nversion: 0.1.0\n...\nnofiles: 1\n",
        "name: demo\n...\nfiles:\n  a.tgz: sha256:00\n",
        "version: 1\n...\nfiles:\n  a.tgz: sha256:00\n",
        "name: demo\nversion: 0.1.0\n...\nfiles: {}\n",
        "name: [\n...\nfiles:\n  a.tgz: sha256:00\n",
    ] {
        assert!(
            matches!(parse_body(body), Err(ProvError::Body(_))),
            "{body}"
        );
    }
}

#[test]
fn duplicate_files_entries_are_refused_not_picked() {
    let body = "name: demo\nversion: 0.1.0\n...\nfiles:\n  a.tgz: sha256:00\n  a.tgz: sha256:11\n";
    assert!(matches!(parse_body(body), Err(ProvError::Body(_))));
}

#[test]
fn too_many_files_entries_are_refused() {
    let mut body = "name: demo\nversion: 0.1.0\n...\nfiles:\n".to_string();
    for i in 0..=MAX_FILES {
        body.push_str(&format!("  f{i}.tgz: sha256:00\n"));
    }
    assert!(matches!(parse_body(&body), Err(ProvError::Body(_))));
}

#[test]
fn an_alias_bomb_in_the_body_stays_within_the_yaml_budget() {
    let mut body = "a: &a [x, x, x, x, x, x, x, x, x, x]\n".to_string();
    for i in 0..12 {
        let prev = if i == 0 {
            "a".to_string()
        } else {
            format!("b{}", i - 1)
        };
        body.push_str(&format!("b{i}: &b{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
    }
    body.push_str("name: demo\nversion: 0.1.0\n...\nfiles:\n  a.tgz: sha256:00\n");
    // It parses (the aliases are skipped, never expanded into a value) or is refused: bounded.
    let _ = parse_body(&body);
}

#[test]
fn errors_never_echo_the_document_at_length() {
    let long = format!(
        "-----BEGIN PGP SIGNED MESSAGE-----\nHash: {}\n\nx\n",
        "A".repeat(10_000)
    );
    let e = parse(long.as_bytes()).unwrap_err().to_string();
    assert!(e.len() < 400, "{}", e.len());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = parse(&bytes);
    }

    #[test]
    fn any_mutation_of_a_real_prov_never_panics_and_keeps_errors_short(
        pos in 0usize..SIGNED.len(), byte in any::<u8>(), cut in 0usize..SIGNED.len()
    ) {
        let mut b = SIGNED.to_vec();
        b[pos] = byte;
        b.truncate(cut.max(pos + 1));
        if let Err(e) = parse(&b) {
            prop_assert!(e.to_string().len() < 400);
        }
    }

    #[test]
    fn arbitrary_bodies_never_panic(body in "[a-z:. \\n\\-{}\\[\\]&*]{0,400}") {
        let _ = parse_body(&body);
    }
}
