//! Shared support for the integration tests (each test file uses part of it).
#![allow(dead_code)]

pub mod cli;
pub mod registry;
