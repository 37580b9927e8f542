//! `ProvenancePolicy` status: whether each policy can be applied (`Ready`, or
//! `Ready=False/PolicyInvalid` with what is wrong: bad regex or selector, missing Secret or key)
//! and how many sources it matches. Written only when it changes, never by a shard, and
//! recomputed only when something it depends on changed (see [`inputs`]): checking costs a
//! read of the watches' change counter and of the policy Secrets' versions the Secret poller
//! last read (a metadata GET of each when polling is off), where recomputing reads every source
//! and every policy Secret.

use std::time::Duration;

use std::hash::{Hash, Hasher};

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DynamicObject, GetParams, Patch, PatchParams};
use kube::runtime::reflector::Store;
use kube::{Resource, ResourceExt};
use serde_json::json;

use super::{Context, MANAGER};
use crate::api::{ProvenancePolicy, ProvenancePolicySpec, ProvenancePolicyStatus, SourceKind};
use crate::audit::decide::compile_policy;
use crate::audit::matching::matches;
use crate::audit::source::FluxSource;
use crate::verifier::creds::fetch_secrets;
use crate::vocabulary::{self as vocab, reasons, types, Status};

/// How often the inputs of policy status are checked (Secrets a policy reads are not watched).
pub const INTERVAL: Duration = Duration::from_secs(5);

/// A fingerprint of everything policy statuses are computed from: the watched policies, sources
/// and namespaces (by their change counter, see [`super::changes`]) and the versions of the
/// Secrets policies name. `None` when a Secret's version cannot be read (recompute).
pub async fn inputs(ctx: &Context) -> Option<u64> {
    fn one(parts: impl Hash) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        parts.hash(&mut h);
        h.finish()
    }
    // A replica that starts leading writes what it did not while standing by.
    let mut sum = one((ctx.is_leader(), ctx.changes.inputs.get()));
    // Parsed once per change of the policy store, like every reconcile's.
    let secrets: std::collections::BTreeSet<_> = ctx
        .policies()
        .iter()
        .flat_map(|(_, p)| super::secret_poll::policy_secrets(p))
        .collect();
    for key in secrets {
        // The Secret poller reads every policy Secret each interval: its reading, else (polling
        // off, or a Secret it has not read yet) a GET of our own.
        let version = match ctx.secrets.observed(&key) {
            Some(v) => v,
            None => Api::<Secret>::namespaced(ctx.client.clone(), &key.0)
                .get_metadata_opt_with(&key.1, &GetParams::any())
                .await
                .ok()?
                .and_then(|m| m.metadata.resource_version),
        };
        sum = sum.wrapping_add(one(("secret", &key.0, &key.1, version)));
    }
    Some(sum)
}

/// Recomputes and, when changed, writes every policy's status; false when one could not be.
pub async fn update_all(ctx: &Context, sources: &[(SourceKind, Store<DynamicObject>)]) -> bool {
    // A shard sees only its own sources: its `matchedSources` would be wrong and fight the
    // other shards' (docs/sharding.md). Nothing to retry.
    if ctx.shard.is_sharded() {
        return true;
    }
    let all: Vec<FluxSource> = sources
        .iter()
        .flat_map(|(_, s)| s.state())
        .filter_map(|o| FluxSource::from_dynamic(&o).ok())
        .collect();
    let mut all_done = true;
    for obj in ctx.policy_store.state() {
        if let Err(e) = update_one(ctx, &obj, &all).await {
            all_done = false;
            tracing::warn!(policy = %obj.name_any(), error = %e, "updating ProvenancePolicy status");
        }
    }
    all_done
}

async fn update_one(
    ctx: &Context,
    obj: &DynamicObject,
    sources: &[FluxSource],
) -> Result<(), crate::error::Error> {
    let name = obj.name_any();
    let spec: Result<ProvenancePolicySpec, _> =
        serde_json::from_value(obj.data.get("spec").cloned().unwrap_or_default());
    let (judgement, matched) = match spec {
        Err(e) => (
            vocab::Judgement::new(Status::False, reasons::POLICY_INVALID, format!("spec: {e}")),
            0,
        ),
        Ok(spec) => {
            let keys = spec
                .secret_refs()
                .map(|r| (r.namespace.clone(), r.name.clone()))
                .collect();
            let secrets = match fetch_secrets(&ctx.client, Some(&ctx.secrets), &keys).await {
                Ok(s) => s,
                // Not being able to read is not the policy's fault: try again next round.
                Err(e) => return Err(e),
            };
            let mut matched = 0i64;
            for s in sources {
                let labels = if spec.match_.namespace_selector.is_some() {
                    ctx.namespace_labels(&s.namespace).await
                } else {
                    Default::default()
                };
                if matches(&spec, s, &labels) {
                    matched += 1;
                }
            }
            let j = match compile_policy(&name, &spec, &secrets) {
                Ok(_) => vocab::Judgement::new(Status::True, reasons::SUCCEEDED, "policy is valid"),
                // Bounded: the message quotes the policy's own regexes and CEL expressions.
                Err(e) => vocab::Judgement::new(
                    Status::False,
                    reasons::POLICY_INVALID,
                    crate::audit::bounds::clip(&e, crate::audit::bounds::MAX_MESSAGE),
                ),
            };
            (j, matched)
        }
    };
    let current: ProvenancePolicyStatus = obj
        .data
        .get("status")
        .cloned()
        .and_then(|s| serde_json::from_value(s).ok())
        .unwrap_or_default();
    let generation = obj.metadata.generation;
    let old = current.conditions.iter().find(|c| c.type_ == types::READY);
    let unchanged = current.matched_sources == matched
        && current.observed_generation == generation
        && old.is_some_and(|c| {
            c.status == judgement.status.as_str()
                && c.reason == judgement.reason
                && c.message == judgement.message
        });
    if unchanged || !ctx.is_leader() {
        return Ok(());
    }
    let mut cond = crate::audit::status::condition(
        types::READY,
        &judgement,
        generation,
        &crate::cluster::now(),
    );
    if let Some(o) = old.filter(|o| o.status == cond.status) {
        cond.last_transition_time = o.last_transition_time.clone();
    }
    let status = ProvenancePolicyStatus {
        conditions: vec![cond],
        matched_sources: matched,
        observed_generation: generation,
    };
    let patch = json!({
        "apiVersion": ProvenancePolicy::api_version(&()),
        "kind": ProvenancePolicy::kind(&()),
        "status": status,
    });
    Api::<ProvenancePolicy>::all(ctx.client.clone())
        .patch_status(
            &name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await?;
    Ok(())
}
