//! The profile-name grammar's suffixes: `+me`, `+me.all`, `-me`, `+gfx` (NVML's `*_REV1`,
//! `*_ALL_ME`, `*_NO_ME` and `*_GFX` profiles).

use dynamig_core::request::{is_profile_name, profile_suffix, ProfileSuffix};

#[test]
fn every_suffix_is_a_profile_name() {
    for ok in [
        "1g.24gb",
        "1g.24gb+me",
        "1g.24gb+me.all",
        "2g.48gb+me.all",
        "1g.24gb-me",
        "2g.48gb-me",
        "1g.24gb+gfx",
        "4g.96gb+gfx",
        "7g.278gb",
    ] {
        assert!(is_profile_name(ok), "{ok}");
    }
    for bad in [
        "1g.24gb+",
        "1g.24gb+me.",
        "1g.24gb+me.al",
        "1g.24gb+me+gfx",
        "1g.24gb-gfx",
        "1g.24gb+GFX",
        "1g.24gb-ME",
        "1g.24gb+me.all ",
        "+gfx",
        "1g.24gb+gfx+me",
    ] {
        assert!(!is_profile_name(bad), "{bad}");
    }
}

#[test]
fn a_name_splits_into_its_core_and_suffix() {
    assert_eq!(profile_suffix("1g.24gb"), ("1g.24gb", ProfileSuffix::Plain));
    assert_eq!(
        profile_suffix("1g.5gb+me"),
        ("1g.5gb", ProfileSuffix::MediaExtension)
    );
    assert_eq!(
        profile_suffix("2g.48gb+me.all"),
        ("2g.48gb", ProfileSuffix::AllMediaEngines)
    );
    assert_eq!(
        profile_suffix("1g.24gb-me"),
        ("1g.24gb", ProfileSuffix::NoMediaEngines)
    );
    assert_eq!(
        profile_suffix("4g.96gb+gfx"),
        ("4g.96gb", ProfileSuffix::Graphics)
    );
}
