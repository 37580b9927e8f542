//! Helm provenance: a chart package from an HTTP chart repository judged by its `.prov` file
//! (an OpenPGP clear-signed document made by `helm package --sign`, checked by `helm verify`).
//!
//! - [`prov`]: the `.prov` read as untrusted input, bounded (signatures, signed body, `files:`).
//! - [`keyring`]: the accepted OpenPGP keys, with subkeys, expiry, revocation and SHA-1 refusal.
//! - [`verify`]: the verdict for one package: each signature against the keyring, the body
//!   against the package's SHA-256, name and version.
//!
//! Pure: the fetching (`index.yaml`, the package, the `.prov`) is the registry room's.

pub mod keyring;
pub mod prov;
pub mod verify;

pub use keyring::{Keyring, KeyringError};
pub use verify::{evaluate_prov, Package};
