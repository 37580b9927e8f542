//! `sigstore-forge`: the private Sigstore instance from the shell (for the demo).
//!
//! - `sigstore-forge init DIR [--name NAME]`: new instance; writes keys, certificates,
//!   `trusted_root.json` and `state.json` into DIR.
//! - `sigstore-forge sign --dir DIR --identity URI|EMAIL --issuer URL [--format bundle|legacy]
//!   HOST/REPO@sha256:HEX`: issues a leaf, signs the digest and attaches the signature as cosign
//!   does.
//! - `sigstore-forge attest --dir DIR --identity URI|EMAIL --issuer URL --type URI
//!   [--predicate FILE] [--source-repository URL --source-ref REF --runner-environment ENV …]
//!   [--unsigned] HOST/REPO@sha256:HEX`: an attestation (DSSE in-toto statement in a bundle)
//!   signed keyless with those Fulcio claims, attached as an OCI referrer; `--unsigned` attaches
//!   the same statement in an envelope nobody signed.
//! - `sigstore-forge push-artifact HOST/REPO:TAG DIR_OR_FILE`: pushes a Flux artifact, prints
//!   its digest.
//! - `sigstore-forge sign-many --dir DIR --identity URI --issuer URL < REFS`: `sign` (bundle
//!   format) for every `HOST/REPO@sha256:HEX` line of stdin with one leaf, in one process (the
//!   controller bench signs thousands of artifacts).

use clap::{Parser, Subcommand, ValueEnum};
use sigstore_forge::push::{self, ArtifactMeta};
use sigstore_forge::{CiClaims, LeafSpec, PrivateSigstore, SignOptions};
use std::path::PathBuf;

#[derive(Parser)]
#[command(about = "A private Sigstore instance for tests and demos")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Bundle,
    Legacy,
}

#[derive(Subcommand)]
enum Command {
    /// Create an instance in DIR.
    Init {
        dir: PathBuf,
        #[arg(long, default_value = "forge")]
        name: String,
    },
    /// Sign HOST/REPO@sha256:HEX with a fresh leaf and attach the signature.
    Sign {
        #[arg(long)]
        dir: PathBuf,
        /// SAN: a URI, or an email when it contains '@' and no "://".
        #[arg(long)]
        identity: String,
        #[arg(long)]
        issuer: String,
        #[arg(long, value_enum, default_value = "bundle")]
        format: Format,
        reference: String,
    },
    /// Attest HOST/REPO@sha256:HEX keyless (a fresh leaf with the given claims) and attach the
    /// bundle as a referrer; prints the referrer digest.
    Attest {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        identity: String,
        #[arg(long)]
        issuer: String,
        /// The predicate type URI.
        #[arg(long = "type")]
        predicate_type: String,
        /// A JSON file with the predicate body (default `{}`).
        #[arg(long)]
        predicate: Option<PathBuf>,
        /// Fulcio `.12` SourceRepositoryURI.
        #[arg(long)]
        source_repository: Option<String>,
        /// Fulcio `.14` SourceRepositoryRef.
        #[arg(long)]
        source_ref: Option<String>,
        /// Fulcio `.13` SourceRepositoryDigest.
        #[arg(long)]
        source_digest: Option<String>,
        /// Fulcio `.11` RunnerEnvironment.
        #[arg(long)]
        runner_environment: Option<String>,
        /// Fulcio `.9` BuildSignerURI.
        #[arg(long)]
        build_signer: Option<String>,
        /// Fulcio `.18` BuildConfigURI.
        #[arg(long)]
        build_config: Option<String>,
        /// Attach the statement in a DSSE envelope with no signature (no certificate, no log).
        #[arg(long)]
        unsigned: bool,
        reference: String,
    },
    /// Sign every HOST/REPO@sha256:HEX line of stdin (bundle format) with one fresh leaf.
    SignMany {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        identity: String,
        #[arg(long)]
        issuer: String,
    },
    /// Push a Flux artifact from a directory or file; prints the manifest digest.
    PushArtifact {
        reference: String,
        content: PathBuf,
        #[arg(long)]
        source: Option<String>,
        #[arg(long)]
        revision: Option<String>,
    },
}

fn main() -> sigstore_forge::Result<()> {
    match Cli::parse().command {
        Command::Init { dir, name } => {
            PrivateSigstore::generate(&name)?.save(&dir)?;
            println!("{}", dir.join("trusted_root.json").display());
        }
        Command::Sign {
            dir,
            identity,
            issuer,
            format,
            reference,
        } => {
            let forge = PrivateSigstore::load(&dir)?;
            let (repo, digest) = reference
                .split_once('@')
                .ok_or("reference must be HOST/REPO@sha256:HEX")?;
            let leaf = forge.issue_leaf(&leaf_spec(&identity, &issuer))?;
            let attached = match format {
                Format::Legacy => {
                    let sig = forge.sign_legacy(&leaf, repo, digest, &SignOptions::default())?;
                    push::attach_legacy(repo, digest, &sig)?
                }
                Format::Bundle => {
                    let bundle = forge.sign_bundle(&leaf, digest, &SignOptions::default())?;
                    push::attach_bundle(repo, digest, &bundle)?
                }
            };
            println!("{attached}");
        }
        Command::Attest {
            dir,
            identity,
            issuer,
            predicate_type,
            predicate,
            source_repository,
            source_ref,
            source_digest,
            runner_environment,
            build_signer,
            build_config,
            unsigned,
            reference,
        } => {
            let (repo, digest) = reference
                .split_once('@')
                .ok_or("reference must be HOST/REPO@sha256:HEX")?;
            let predicate: serde_json::Value = match predicate {
                Some(file) => serde_json::from_slice(&std::fs::read(file)?)?,
                None => serde_json::json!({}),
            };
            let attached = if unsigned {
                let json =
                    sigstore_forge::unsigned_bundle_json(digest, &predicate_type, &predicate)?;
                push::attach_bundle_json(repo, digest, &json, &predicate_type)?
            } else {
                let forge = PrivateSigstore::load(&dir)?;
                let mut spec = leaf_spec(&identity, &issuer);
                spec.ci = CiClaims {
                    source_repository_uri: source_repository,
                    source_repository_ref: source_ref,
                    source_repository_digest: source_digest,
                    runner_environment,
                    build_signer_uri: build_signer,
                    build_config_uri: build_config,
                    ..CiClaims::default()
                };
                let leaf = forge.issue_leaf(&spec)?;
                let bundle = forge.attest(
                    &leaf,
                    digest,
                    &predicate_type,
                    &predicate,
                    &SignOptions::default(),
                )?;
                push::attach_bundle(repo, digest, &bundle)?
            };
            println!("{attached}");
        }
        Command::SignMany {
            dir,
            identity,
            issuer,
        } => {
            let forge = PrivateSigstore::load(&dir)?;
            let leaf = forge.issue_leaf(&LeafSpec::uri(&identity, &issuer))?;
            for line in std::io::stdin().lines() {
                let line = line?;
                let Some((repo, digest)) = line.trim().split_once('@') else {
                    continue;
                };
                let bundle = forge.sign_bundle(&leaf, digest, &SignOptions::default())?;
                println!("{}", push::attach_bundle(repo, digest, &bundle)?);
            }
        }
        Command::PushArtifact {
            reference,
            content,
            source,
            revision,
        } => {
            let mut meta = ArtifactMeta::default();
            meta.source = source.unwrap_or(meta.source);
            meta.revision = revision.unwrap_or(meta.revision);
            println!("{}", push::push_artifact(&reference, &content, &meta)?);
        }
    }
    Ok(())
}

/// A leaf for an email identity when `identity` looks like one, else for a URI.
fn leaf_spec(identity: &str, issuer: &str) -> LeafSpec {
    if identity.contains('@') && !identity.contains("://") {
        LeafSpec::email(identity, issuer)
    } else {
        LeafSpec::uri(identity, issuer)
    }
}
