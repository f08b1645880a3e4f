//! Fuzzes record decoding as a consumer meets it: the `records` bytes of a
//! fetch response, batch by batch (magic v0, v1 and v2, any codec), with CRC
//! checks both on and off so the decoder past the CRC is reached too.
#![no_main]

use ferrokafka_protocol::records::{DecodeOptions, decode_batches};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let bytes = bytes::Bytes::copy_from_slice(data);
    for verify_crc in [true, false] {
        let options = DecodeOptions::default().with_verify_crc(verify_crc).with_decompression_limit(1 << 20);
        for batch in decode_batches(bytes.clone(), options) {
            let Ok(batch) = batch else { break };
            for record in batch.records.iter() {
                std::hint::black_box((&record.key, &record.value));
            }
        }
    }
});
