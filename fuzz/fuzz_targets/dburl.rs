//! Fuzzes the `DATABASE_URL` parser (URI and keyword forms) and `resolve()`: nothing
//! may panic, and no error may show the password canary or any `password=` value.
//! The oracle is `dburl::fuzz_one`, which `cargo test` also runs on `corpus/dburl/`.
//!
//! The parser's three source files are compiled in directly rather than through the
//! `shipcheck` crate, so a sanitizer build does not have to compile OpenSSL and the
//! AWS SDK; they depend on nothing but `std` and `thiserror`.
#![no_main]
#![allow(dead_code)]

#[path = "../../src/preflight/dburl.rs"]
pub mod dburl;
#[path = "../../src/preflight/environ.rs"]
pub mod environ;
#[path = "../../src/redact.rs"]
pub mod redact;

mod preflight {
    pub use super::environ;
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    dburl::fuzz_one(data);
});
