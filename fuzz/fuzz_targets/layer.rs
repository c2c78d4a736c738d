//! A layer blob (gzip, zstd or plain tar) through `read_layer`, or a model
//! layer whose entries must read back as modelled; see `layer::fuzz_layer`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    shipcheck::image::layer::fuzz_layer(data);
});
