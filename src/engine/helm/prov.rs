//! A Helm provenance file (`<chart>-<version>.tgz.prov`, made by `helm package --sign`) read as
//! untrusted input: an OpenPGP clear-signed document whose body is the chart's `Chart.yaml`
//! metadata, a `...` line, and a YAML `files:` map of package file name → `sha256:<hex>`.
//!
//! Everything here is bounded before it is parsed (the file, the signatures, the entries) and
//! every failure is a [`ProvError`], never a panic: a hostile chart repository serves what it
//! likes. Parsing says nothing about trust: [`super::verify`] checks the signatures.

use std::collections::BTreeMap;

use pgp::composed::CleartextSignedMessage;
use pgp::packet::Signature;
use serde::Deserialize;

use crate::registry::bounded;

/// Largest `.prov` accepted (the registry's fetch limit). Real ones are a few KiB (the chart's
/// metadata and one digest); a Chart.yaml with long annotations stays far below this.
pub const MAX_PROV_BYTES: usize = crate::registry::helm_http::MAX_PROV_BYTES;

/// Most signature packets read from one `.prov` (`helm package --sign` writes one).
pub const MAX_SIGNATURES: usize = 8;

/// Most `files:` entries kept (Helm writes one: the package).
pub const MAX_FILES: usize = 64;

/// Why a `.prov` cannot be read. The text is bounded and never quotes the document at length.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProvError {
    /// Larger than [`MAX_PROV_BYTES`].
    #[error("the .prov is larger than {MAX_PROV_BYTES} bytes ({0} bytes)")]
    TooLarge(usize),
    /// Not UTF-8 text.
    #[error("the .prov is not UTF-8 text")]
    NotText,
    /// Not one well-formed OpenPGP clear-signed message (truncated armor, trailing data, a
    /// packet that is not a signature, a bad header …).
    #[error("the .prov is not an OpenPGP clear-signed message: {0}")]
    Armor(String),
    /// The clear-signed message carries no signature, or more than [`MAX_SIGNATURES`].
    #[error("the .prov carries {0} signatures (expected 1 to {MAX_SIGNATURES})")]
    SignatureCount(usize),
    /// The signed body is not Helm's `<metadata>\n...\n<files>` layout.
    #[error("the signed body is not a Helm provenance body: {0}")]
    Body(String),
}

/// The chart metadata the body names (the rest of `Chart.yaml` is not needed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvMetadata {
    /// `name`.
    pub name: String,
    /// `version`.
    pub version: String,
}

/// A parsed `.prov`: its signatures and what they sign. Nothing in it is trusted yet.
#[derive(Debug, Clone)]
pub struct Provenance {
    /// The clear-signed text as the signatures hash it (dash-unescaped, CRLF line endings).
    pub signed_text: String,
    /// The signature packets (1 to [`MAX_SIGNATURES`]).
    pub signatures: Vec<Signature>,
    /// The body's chart metadata, or why the body does not parse (then no signature can make
    /// the chart verified, but who signed is still worth reporting).
    pub body: Result<ProvBody, ProvError>,
}

/// The signed body: which chart, and the digests of its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvBody {
    /// `name` and `version` of the signed Chart.yaml.
    pub metadata: ProvMetadata,
    /// `files:` file name → `sha256:<hex>` as written (at most [`MAX_FILES`]).
    pub files: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct RawMetadata {
    name: Option<String>,
    version: Option<String>,
}

#[derive(Deserialize)]
struct RawFiles {
    files: Option<BTreeMap<String, String>>,
}

/// Parses a `.prov`. Pure; bounded in bytes and work.
pub fn parse(bytes: &[u8]) -> Result<Provenance, ProvError> {
    if bytes.len() > MAX_PROV_BYTES {
        return Err(ProvError::TooLarge(bytes.len()));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| ProvError::NotText)?;
    // The OpenPGP parser is a dependency fed hostile bytes: a panic in it must not take the
    // controller down, so it is contained and reported like any other malformed document.
    let parsed = std::panic::catch_unwind(|| CleartextSignedMessage::from_string(text))
        .map_err(|_| ProvError::Armor("the OpenPGP parser failed on this input".into()))?;
    let (message, _headers) =
        parsed.map_err(|e| ProvError::Armor(bounded::truncate(&e.to_string())))?;
    let n = message.signatures().len();
    if n == 0 || n > MAX_SIGNATURES {
        return Err(ProvError::SignatureCount(n));
    }
    let signed_text = message.signed_text();
    let body = parse_body(&signed_text);
    Ok(Provenance {
        signatures: message.signatures().to_vec(),
        signed_text,
        body,
    })
}

/// Helm's layout: the metadata YAML, a line `...`, the `files:` YAML (more parts are ignored,
/// as Helm ignores them). Line endings are compared as LF: the signature hashes CRLF, and a
/// document written with CRLF reads the same.
pub fn parse_body(signed_text: &str) -> Result<ProvBody, ProvError> {
    let text = signed_text.replace("\r\n", "\n");
    let mut parts = text.splitn(3, "\n...\n");
    let (meta, files) = match (parts.next(), parts.next()) {
        (Some(m), Some(f)) => (m, f),
        _ => {
            return Err(body_error(
                "no `...` line between the metadata and the files",
            ))
        }
    };
    let meta: RawMetadata = yaml(meta, "the chart metadata")?;
    let files: RawFiles = yaml(files, "the files section")?;
    let metadata = ProvMetadata {
        name: meta
            .name
            .ok_or_else(|| body_error("the chart metadata has no name"))?,
        version: meta
            .version
            .ok_or_else(|| body_error("the chart metadata has no version"))?,
    };
    let files = files
        .files
        .ok_or_else(|| body_error("the files section has no files: map"))?;
    if files.is_empty() {
        return Err(body_error("the files: map is empty"));
    }
    if files.len() > MAX_FILES {
        return Err(body_error(&format!(
            "the files: map has {} entries (at most {MAX_FILES})",
            files.len()
        )));
    }
    Ok(ProvBody { metadata, files })
}

fn body_error(s: &str) -> ProvError {
    ProvError::Body(s.to_string())
}

/// A YAML part of the body, with the parser's budget (aliases, depth, events) and duplicate
/// keys refused: two `files:` entries for one name must not let a reader pick either.
fn yaml<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T, ProvError> {
    let options = serde_saphyr::options! {
        with_snippet: false,
    };
    serde_saphyr::from_str_with_options(text, options).map_err(|e| {
        ProvError::Body(format!(
            "{what} is not the expected YAML: {}",
            bounded::truncate(&e.without_snippet().to_string())
        ))
    })
}

#[cfg(test)]
#[path = "prov_tests.rs"]
mod tests;
