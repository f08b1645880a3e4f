//! Fuzzes the broker's view of a request: a whole frame payload (header and
//! body) through `header::decode_request`, which must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ferrokafka_protocol::header::decode_request(bytes::Bytes::copy_from_slice(data));
});
