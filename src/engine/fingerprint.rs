//! Unambiguous fingerprints: every field length-prefixed, so no two different lists of fields
//! give the same bytes (with separators, an issuer regex holding the separator could pass for
//! an issuer and a subject). Verdict-cache keys and identity keys are built from these.

use sha2::{Digest, Sha256};

/// A SHA-256 over length-prefixed fields, written `sha256:<hex>`.
#[derive(Clone, Default)]
pub struct Fingerprint(Sha256);

impl Fingerprint {
    /// A fingerprint of `domain`'s fields (the domain is the first field).
    pub fn new(domain: &str) -> Self {
        let mut f = Self::default();
        f.field(domain);
        f
    }

    /// Adds one field.
    pub fn field(&mut self, field: impl AsRef<[u8]>) -> &mut Self {
        let bytes = field.as_ref();
        self.0.update((bytes.len() as u64).to_be_bytes());
        self.0.update(bytes);
        self
    }

    /// `sha256:<hex>`.
    pub fn finish(self) -> String {
        format!("sha256:{}", hex::encode(self.0.finalize()))
    }
}

/// `fields` as one text in which no field can pass for another: each is written as
/// `<byte length>:<field>` (a netstring without its trailing comma).
pub fn fields_text<S: AsRef<str>>(fields: impl IntoIterator<Item = S>) -> String {
    fields
        .into_iter()
        .map(|f| format!("{}:{}", f.as_ref().len(), f.as_ref()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moving_a_boundary_between_fields_changes_the_fingerprint() {
        let fp = |fields: &[&str]| {
            let mut f = Fingerprint::new("test");
            for x in fields {
                f.field(x);
            }
            f.finish()
        };
        assert_ne!(fp(&["a\u{1}b", "c"]), fp(&["a", "b\u{1}c"]));
        assert_ne!(fp(&["ab", ""]), fp(&["a", "b"]));
        assert_ne!(fp(&["a"]), fp(&["a", ""]));
        assert_eq!(fp(&["a", "b"]), fp(&["a", "b"]));
        assert_ne!(fields_text(["a\0b", "c"]), fields_text(["a", "b\0c"]));
        assert_eq!(fields_text(["ab", "c"]), "2:ab1:c");
    }
}
