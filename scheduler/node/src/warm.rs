//! The warm-instance settings (docs/warm-instances.md): how many released instances a node keeps
//! for the next request of their profile, and for how long. Read once with the rest of
//! [`crate::config::NodeConfig`].

use std::time::Duration;

/// Most warm instances per node; 0 turns warm instances off (every release destroys, as
/// before).
pub const MAX_ENV: &str = "DYNAMIG_WARM_MAX";
/// How long one instance stays warm: a duration as annotations write them (`300s`, `5m`; at
/// most `1h`).
pub const TTL_ENV: &str = "DYNAMIG_WARM_TTL";

/// The default number kept: none, warm instances are off until a node turns them on (see
/// docs/warm-instances.md, "Defaults", for why, and for the value to turn them on with).
pub const DEFAULT_MAX: usize = 0;
/// What docs/warm-instances.md suggests turning them on with.
pub const SUGGESTED_MAX: usize = 4;
/// The default time kept, once turned on: Kubernetes' longest restart back-off (see
/// docs/warm-instances.md, "Defaults").
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarmSettings {
    /// Most warm instances on the node at once; the oldest go first beyond it.
    pub max: usize,
    /// How long after its release a warm instance is destroyed by the next entry point.
    pub ttl: Duration,
    /// A value that could not be read, as `NAME=value: why`. Warm instances are then off (a
    /// release destroys, the safe behaviour of before), and the node says so in its log.
    pub invalid: Option<String>,
}

impl Default for WarmSettings {
    fn default() -> Self {
        WarmSettings {
            max: DEFAULT_MAX,
            ttl: DEFAULT_TTL,
            invalid: None,
        }
    }
}

impl WarmSettings {
    /// On, keeping at most `max` for `ttl`.
    pub fn on(max: usize, ttl: Duration) -> WarmSettings {
        WarmSettings {
            max,
            ttl,
            invalid: None,
        }
    }

    /// From the two variables' values (unset or empty: the default).
    pub fn parse(max: Option<&str>, ttl: Option<&str>) -> WarmSettings {
        let mut s = WarmSettings::default();
        if let Some(v) = max.map(str::trim).filter(|v| !v.is_empty()) {
            match v.parse::<usize>() {
                Ok(n) => s.max = n,
                Err(_) => s.invalid = Some(format!("{MAX_ENV}={v}: not a whole number")),
            }
        }
        if let Some(v) = ttl.map(str::trim).filter(|v| !v.is_empty()) {
            match dynamig_core::duration::parse_duration(v) {
                Ok(d) => s.ttl = d,
                Err(e) => {
                    s.invalid = Some(format!(
                        "{TTL_ENV}={v}: {e} ({})",
                        dynamig_core::duration::ACCEPTED
                    ))
                }
            }
        }
        if s.invalid.is_some() {
            s.max = 0;
        }
        s
    }

    /// Whether a release may keep its instance warm.
    pub fn enabled(&self) -> bool {
        self.max > 0 && !self.ttl.is_zero()
    }

    pub fn ttl_ms(&self) -> u64 {
        dynamig_core::duration::millis(self.ttl)
    }
}

/// The NVIDIA kernel module's parameters, under the proc root (`/proc`).
pub const DRIVER_PARAMS: &str = "driver/nvidia/params";

/// Whether the NVIDIA kernel module's parameters (the text of `/proc/driver/nvidia/params`) turn
/// off its scrubbing of freed GPU memory: `RMDisableScrubOnFree` set to a value other than 0 in
/// `RegistryDwords` or `RegistryDwordsPerDevice` (`NVreg_RegistryDwords="RMDisableScrubOnFree=1"`).
/// Then a released instance's memory is not cleared by the driver, and it is never kept warm
/// (docs/warm-instances.md).
pub fn scrub_on_free_disabled(params: &str) -> bool {
    params
        .lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| k.trim().starts_with("RegistryDwords"))
        .flat_map(|(_, v)| v.trim().trim_matches('"').split(';'))
        .filter_map(|kv| kv.split_once('='))
        .any(|(k, v)| {
            k.trim().eq_ignore_ascii_case("RMDisableScrubOnFree") && registry_value(v) != Some(0)
        })
}

/// A registry dword as the module writes it: decimal or `0x` hex.
fn registry_value(v: &str) -> Option<u64> {
    let v = v.trim();
    match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => v.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_drivers_scrub_on_free_is_read_from_its_registry_parameters() {
        let stock =
            "ResmanDebugLevel: 4294967295\nRegistryDwords: \"\"\nRegistryDwordsPerDevice: \"\"\n";
        assert!(!scrub_on_free_disabled(stock));
        assert!(!scrub_on_free_disabled(""));
        for set in [
            "RegistryDwords: \"RMDisableScrubOnFree=1\"",
            "RegistryDwords: \"RmFoo=3;rmdisablescrubonfree=0x1\"",
            "RegistryDwordsPerDevice: \"RMDisableScrubOnFree=1\"",
        ] {
            assert!(scrub_on_free_disabled(set), "{set}");
        }
        assert!(!scrub_on_free_disabled(
            "RegistryDwords: \"RMDisableScrubOnFree=0\""
        ));
    }

    #[test]
    fn unset_is_the_default_and_zero_turns_it_off() {
        assert_eq!(WarmSettings::parse(None, None), WarmSettings::default());
        assert_eq!(
            WarmSettings::parse(Some(""), Some("")),
            WarmSettings::default()
        );
        assert!(!WarmSettings::default().enabled(), "off by default");
        assert!(WarmSettings::parse(Some("4"), None).enabled());
        assert!(!WarmSettings::parse(Some("0"), None).enabled());
        assert!(!WarmSettings::parse(Some("4"), Some("0s")).enabled());
        let s = WarmSettings::parse(Some("2"), Some("5m"));
        assert_eq!((s.max, s.ttl), (2, Duration::from_secs(300)));
    }

    #[test]
    fn a_bad_value_turns_warm_instances_off_and_says_which() {
        let s = WarmSettings::parse(Some("many"), None);
        assert!(!s.enabled());
        assert!(s.invalid.as_deref().is_some_and(|m| m.contains(MAX_ENV)));
        let s = WarmSettings::parse(None, Some("forever"));
        assert!(!s.enabled());
        assert!(s.invalid.as_deref().is_some_and(|m| m.contains(TTL_ENV)));
    }
}
