//! The AJAM listener's request head parser (`relay::ajam::http1::parse_head`), fed
//! raw bytes as a client would send them: Asterisk's HTTP server has had crashes on
//! malformed heads. None panics; a head it takes lies within the bytes, and one that
//! is complete stays complete with more bytes after it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use relay::ajam::http1::{Parsed, parse_head};

fuzz_target!(|input: &[u8]| {
    if let Parsed::Head(head) = parse_head(input, "Asterisk/22") {
        assert!(head.head_len <= input.len());
        assert!(head.path.len() < input.len());
        let mut longer = input.to_vec();
        longer.extend_from_slice(b"GET / HTTP/1.1\r\n");
        match parse_head(&longer, "Asterisk/22") {
            Parsed::Head(again) => assert_eq!(again.head_len, head.head_len),
            other => panic!("a complete head became {other:?} with bytes after it"),
        }
    }
});
