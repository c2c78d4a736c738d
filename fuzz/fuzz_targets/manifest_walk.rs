//! Bytes as `index.json` and the manifests/indexes it reaches, through the index
//! walk; see `source::fuzz_manifest_walk`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    shipcheck::image::source::fuzz_manifest_walk(data);
});
