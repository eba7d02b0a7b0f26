//! Names that no other run, on this machine or another, will take: 64 bits from the OS's random source.

use std::hash::{BuildHasher, Hasher, RandomState};

/// 64 random bits, in 16 hex digits.
pub fn random_hex() -> String {
    // std seeds each `RandomState` from the OS's random source: 64 bits nobody can predict.
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    format!("{:016x}", hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_names_differ_and_are_sixteen_hex_digits() {
        let (a, b) = (random_hex(), random_hex());
        assert_ne!(a, b);
        assert!(a.len() == 16 && a.chars().all(|c| c.is_ascii_hexdigit()), "{a}");
    }
}
