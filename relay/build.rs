//! Rebuilds the relay when the SPA in `target/spa` changes: release builds embed
//! its files, and cargo cannot otherwise see files that appeared since the last build.

fn main() {
    println!("cargo:rerun-if-changed=../target/spa");
}
