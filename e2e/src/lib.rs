//! End-to-end test support for the local stack.
