//! Per-source registry clients kept by a digest of exactly what they were built from (the pull
//! Secrets' data, the CA bundle, the `insecure` host), so that an audit reuses the client of the
//! previous audit with the same inputs instead of building one: building loads the platform's
//! root certificates (milliseconds of CPU per audit of every source with credentials, a CA
//! bundle or `insecure: true`), and a reused client keeps its registry tokens and what it learnt
//! about the registry's referrers API.
//!
//! The inputs are still read on every audit (from the Secret cache while the Secret poller
//! confirms them, see [`super::secret_cache`]; a rotated Secret changes the digest, so the next
//! audit builds a new client); only the building is saved.

use std::collections::HashMap;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::registry::RegistryClient;

/// Above this many clients the memo starts over (a client is cheap to rebuild once).
const MAX_CLIENTS: usize = 256;

/// What a client is built from, fed in a fixed order.
#[derive(Default)]
pub struct ClientKey(Sha256);

impl ClientKey {
    /// Adds one labelled input (lengths are included, so no two sequences collide).
    pub fn add(&mut self, label: &str, bytes: &[u8]) {
        for part in [label.as_bytes(), bytes] {
            self.0.update((part.len() as u64).to_be_bytes());
            self.0.update(part);
        }
    }

    fn finish(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}

/// Registry clients by the digest of their inputs.
#[derive(Default)]
pub struct ClientMemo {
    clients: Mutex<HashMap<[u8; 32], RegistryClient>>,
}

impl ClientMemo {
    /// The client built from `key`'s inputs, building it with `build` the first time.
    pub fn get_or_build<E>(
        &self,
        key: ClientKey,
        build: impl FnOnce() -> Result<RegistryClient, E>,
    ) -> Result<RegistryClient, E> {
        let key = key.finish();
        if let Some(c) = self.lock().get(&key) {
            return Ok(c.clone());
        }
        let client = build()?;
        let mut m = self.lock();
        if m.len() >= MAX_CLIENTS {
            m.clear();
        }
        Ok(m.entry(key).or_insert(client).clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], RegistryClient>> {
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::RegistryOptions;

    fn key(parts: &[(&str, &[u8])]) -> ClientKey {
        let mut k = ClientKey::default();
        for (l, b) in parts {
            k.add(l, b);
        }
        k
    }

    #[test]
    fn the_same_inputs_reuse_a_client_and_other_inputs_build_another() {
        let memo = ClientMemo::default();
        let built = std::cell::Cell::new(0);
        let get = |parts: &[(&str, &[u8])]| {
            memo.get_or_build(key(parts), || {
                built.set(built.get() + 1);
                RegistryClient::new(RegistryOptions::default())
            })
            .unwrap()
        };
        get(&[("pull", b"{\"auths\":{}}")]);
        get(&[("pull", b"{\"auths\":{}}")]);
        get(&[("pull", b"{\"auths\":{\"x\":{}}}")]);
        // Where one input ends and the next begins is part of the key.
        get(&[("pull", b"ab"), ("ca", b"c")]);
        get(&[("pull", b"a"), ("ca", b"bc")]);
        let built = built.get();
        assert_eq!(built, 4);
    }
}
