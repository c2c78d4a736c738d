//! Bytes as an image spec file through the spec parser; see `spec::fuzz_spec`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    shipcheck::image::spec::fuzz_spec(data);
});
