//! shipcheck stops broken container deploys before they happen.
//!
//! Two tools share this library: `image-check` ([`image`]) reads a container image
//! offline and checks its flattened filesystem and config against a spec, and
//! `preflight` ([`preflight`]) runs as the container's entrypoint, probes what the
//! server depends on, then execs it. The two never import each other; both report
//! through [`report`] and keep secrets behind [`redact`].
//!
//! Cargo features: `preflight` (default) builds the entrypoint self-test and pulls in
//! tokio, OpenSSL and the AWS SDK; `aws` is the AWS plumbing both tools share. With
//! `--no-default-features` the library is image-check alone, which is what the fuzz
//! targets' sanitizer builds use.

#[cfg(feature = "aws")]
pub mod aws;
pub mod cli;
pub mod image;
#[cfg(feature = "preflight")]
pub mod preflight;
pub mod redact;
pub mod report;
pub mod spec;
pub mod specfile;
pub mod taskdef;
