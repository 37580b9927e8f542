//! provenance-auditor: independently audits who signed the OCI artifacts Flux sources fetch.
