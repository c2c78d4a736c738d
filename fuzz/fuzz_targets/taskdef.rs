//! Bytes as an ECS task-definition file through the whole lint and every
//! renderer; see `taskdef::fuzz_taskdef`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    shipcheck::taskdef::fuzz_taskdef(data);
});
