//! The one integration-test binary: image-check against fixture images built by
//! `support::fixture`, and preflight against real peers on loopback.

mod app_checks;
mod aws_chain;
mod cache;
mod canary;
mod container;
mod flatten_hardening;
mod hostile_preflight;
mod image_check;
mod image_hardening;
mod libpq_parse;
mod pg_libpq;
mod preflight;
mod preflight_hardening;
mod registry;
mod support;
mod tar_hardening;
mod taskdef;
