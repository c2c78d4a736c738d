//! Bytes as a script, a `package.json`, a page and a stylesheet through the app
//! checks' parsers; see `checks::fuzz_app_files`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    shipcheck::image::checks::fuzz_app_files(data);
});
