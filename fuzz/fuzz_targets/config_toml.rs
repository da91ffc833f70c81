//! Config files as an operator may get them wrong: any text gives a config or an error,
//! never a panic, and a syntax error names its line.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use relay::config::{ConfigError, from_toml};

fuzz_target!(|text: &str| {
    if let Err(error @ ConfigError::Syntax { .. }) =
        from_toml(Path::new("fuzz.toml"), text, &|_| None)
    {
        assert!(error.to_string().contains("line"), "{error}");
    }
});
