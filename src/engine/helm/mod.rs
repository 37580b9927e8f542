//! Helm provenance: a chart package from an HTTP chart repository judged by its `.prov` file
//! (an OpenPGP clear-signed document made by `helm package --sign`, checked by `helm verify`).
//!
//! - [`prov`]: the `.prov` read as untrusted input, bounded (signatures, signed body, `files:`).
//! - [`keyring`]: the accepted OpenPGP keys, with subkeys, expiry, revocation and SHA-1 refusal.
//! - [`verify`]: the verdict for one package: each signature against the keyring, the body
//!   against the package's SHA-256, name and version.
//!
//! - [`package`]: the CLI's one package URL: download, fetch the `.prov`, judge (the only
//!   I/O here; the fetching itself is the registry room's `helm_http`).

pub mod keyring;
pub mod package;
pub mod prov;
pub mod verify;

pub use keyring::{Keyring, KeyringError};
pub use package::verify_package_url;
pub use verify::{evaluate_prov, Package};
