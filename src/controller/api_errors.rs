//! What the API server's refusals mean for the controller's own writes.

/// The API server refuses new objects in a namespace being deleted (403 with the
/// `NamespaceTerminating` cause): expected while a namespace goes, not worth a warning.
pub fn namespace_terminating(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => {
            s.code == 403
                && (s.message.contains("because it is being terminated")
                    || s.details.as_ref().is_some_and(|d| {
                        d.causes.iter().any(|c| c.reason == "NamespaceTerminating")
                    }))
        }
        _ => false,
    }
}
