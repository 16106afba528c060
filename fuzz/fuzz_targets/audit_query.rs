#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| airlock_fuzz::audit::query(data));
