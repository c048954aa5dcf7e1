#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| batlehub_fuzz::osv_record(data));
