//! A private Sigstore instance for tests and the demo.
