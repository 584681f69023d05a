//! The memory-quantity parser (`10GB`, `512MiB`, ...): never panics; whatever it accepts is a
//! positive byte count, made only of ASCII digits and a known unit.
#![no_main]

use dynamig_core::quantity::parse_bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(b) = parse_bytes(s) {
        assert!(b > 0, "{s:?} parsed to zero bytes");
        assert!(s.is_ascii(), "{s:?} is not ASCII but was accepted");
        assert!(
            s.as_bytes()[0].is_ascii_digit(),
            "{s:?} does not start with a digit but was accepted"
        );
    }
});
