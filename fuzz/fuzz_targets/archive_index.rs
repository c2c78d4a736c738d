//! The outer tar of `oci-archive:`/`docker-archive:` indexed from arbitrary
//! bytes; see `source::fuzz_archive_index`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    shipcheck::image::source::fuzz_archive_index(data);
});
