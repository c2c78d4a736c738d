//! The one integration-test binary: image-check against fixture images built by
//! `support::fixture`, and preflight against real peers on loopback.

mod image_check;
mod image_hardening;
mod preflight;
mod support;
