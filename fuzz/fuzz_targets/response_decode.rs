//! Fuzzes the client's view of a response: the first two bytes pick the API
//! key and version, the rest is decoded as that response (header and body).
#![no_main]

use ferrokafka_protocol::{ApiKey, header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [key, version, rest @ ..] = data else { return };
    let Some(&api) = ApiKey::ALL.get(usize::from(*key) % ApiKey::ALL.len()) else { return };
    let range = api.valid_versions();
    let span = (range.max - range.min + 1) as u8;
    let version = range.min + i16::from(version % span);
    let _ = header::decode_response_kind(bytes::Bytes::copy_from_slice(rest), api, version);
});
