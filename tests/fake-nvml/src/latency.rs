//! Emulated driver latency: `FAKE_NVML_LATENCY_MS=init=20,gi_create=90,...` makes each call of
//! a kind sleep that long, as the real driver takes that long (an A100 creates a GPU instance in
//! 52–132 ms and destroys one in 120–165 ms), so that dynamig's own time on the reshape path can
//! be told apart from the hardware's. Off by default.
//!
//! The setting is parsed once per process (at the first `nvmlInit`); a key that is not a
//! [`Kind`] or a value that is not a number of milliseconds makes `nvmlInit` fail with
//! `NVML_ERROR_UNKNOWN` and a line on stderr: a typo is never silently ignored.
//!
//! `FAKE_NVML_LATENCY_LOG=<file>`: every emulated sleep appends a line `<kind> <µs> <end> <pid>`
//! to that file: the time actually slept (measured, not the configured value), the Unix time in
//! µs when the sleep ended and the process, so a benchmark subtracts the emulated time that was
//! really spent within the window it measures, and a test counts the calls of each kind. Each
//! library call also appends `fake_work <µs> <end> <pid>`: its time besides the sleeps (the
//! fake's file work), which is neither the driver's time nor dynamig's.

use std::cell::Cell;
use std::io::Write;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub const LATENCY_ENV: &str = "FAKE_NVML_LATENCY_MS";
pub const LATENCY_LOG_ENV: &str = "FAKE_NVML_LATENCY_LOG";

/// The call kinds that can be given a latency, as `FAKE_NVML_LATENCY_MS` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `nvmlInit_v2`, `nvmlInitWithFlags`.
    Init,
    /// `nvmlShutdown`.
    Shutdown,
    /// `nvmlDeviceCreateGpuInstanceWithPlacement`.
    GiCreate,
    /// `nvmlGpuInstanceDestroy`.
    GiDestroy,
    /// `nvmlGpuInstanceCreateComputeInstance`.
    CiCreate,
    /// `nvmlComputeInstanceDestroy`.
    CiDestroy,
    /// `nvmlDeviceGetGpuInstances`: one listing of a profile's GPU instances (what reading the
    /// hardware costs per profile).
    GiList,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::Init,
        Kind::Shutdown,
        Kind::GiCreate,
        Kind::GiDestroy,
        Kind::CiCreate,
        Kind::CiDestroy,
        Kind::GiList,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Init => "init",
            Kind::Shutdown => "shutdown",
            Kind::GiCreate => "gi_create",
            Kind::GiDestroy => "gi_destroy",
            Kind::CiCreate => "ci_create",
            Kind::CiDestroy => "ci_destroy",
            Kind::GiList => "gi_list",
        }
    }

    fn slot(self) -> usize {
        Kind::ALL.iter().position(|k| *k == self).unwrap_or(0)
    }
}

/// The latency of each kind (zero: none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Latency {
    per_kind: [Duration; Kind::ALL.len()],
}

impl Latency {
    /// Parses `kind=ms[,kind=ms...]` (spaces allowed; empty: no latency). The error names what
    /// is wrong and the kinds there are.
    pub fn parse(text: &str) -> Result<Latency, String> {
        let mut l = Latency::default();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let Some((key, ms)) = entry.split_once('=') else {
                return Err(format!("{entry:?} is not kind=milliseconds"));
            };
            let key = key.trim();
            let kind = Kind::ALL
                .into_iter()
                .find(|k| k.name() == key)
                .ok_or_else(|| {
                    let known: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
                    format!("unknown call kind {key:?} (known: {})", known.join(", "))
                })?;
            let ms: f64 = ms
                .trim()
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| format!("{entry:?}: {ms:?} is not a number of milliseconds"))?;
            l.per_kind[kind.slot()] = Duration::from_secs_f64(ms / 1000.0);
        }
        Ok(l)
    }

    pub fn of(&self, kind: Kind) -> Duration {
        self.per_kind[kind.slot()]
    }
}

static LATENCY: OnceLock<Result<Latency, String>> = OnceLock::new();

/// This process's latency setting, parsed on first use.
pub(crate) fn setting() -> &'static Result<Latency, String> {
    LATENCY.get_or_init(|| match std::env::var(LATENCY_ENV) {
        Ok(v) => Latency::parse(&v).map_err(|e| format!("{LATENCY_ENV}={v:?}: {e}")),
        Err(_) => Ok(Latency::default()),
    })
}

/// The log, opened once per process (`None`: `FAKE_NVML_LATENCY_LOG` unset).
static LOG: OnceLock<Option<Mutex<std::fs::File>>> = OnceLock::new();

thread_local! {
    /// Emulated sleeps of the library call running on this thread.
    static SLEPT: Cell<Duration> = const { Cell::new(Duration::ZERO) };
    /// The time the previous `fake_work` line took to write, added to the next one.
    static CARRY: Cell<Duration> = const { Cell::new(Duration::ZERO) };
}

fn log() -> Option<&'static Mutex<std::fs::File>> {
    LOG.get_or_init(|| {
        let p = std::env::var_os(LATENCY_LOG_ENV).filter(|v| !v.is_empty())?;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .ok()
            .map(Mutex::new)
    })
    .as_ref()
}

/// Appends `<name> <µs> <end> <pid>` (one write: lines of several processes never interleave).
fn write_line(name: &str, took: Duration) {
    let Some(f) = log() else { return };
    let end = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let line = format!(
        "{name} {} {} {}\n",
        took.as_micros(),
        end.as_micros(),
        std::process::id()
    );
    let mut f = f.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let _ = f.write_all(line.as_bytes());
}

/// Sleeps for `kind`'s latency, when one is set, and logs the time slept.
pub(crate) fn emulate(kind: Kind) {
    let Ok(l) = setting() else { return };
    let d = l.of(kind);
    if d.is_zero() {
        return;
    }
    let t = Instant::now();
    std::thread::sleep(d);
    let slept = t.elapsed();
    SLEPT.with(|s| s.set(s.get() + slept));
    write_line(kind.name(), slept);
}

/// Runs one library call; with a log, appends `fake_work <µs>`: what the call took besides its
/// emulated sleeps (the fake's own work: reading and rewriting its node file and proc tree,
/// which a real driver does not do), so that a benchmark counts it neither as the driver's
/// time nor as dynamig's.
pub(crate) fn timed<T>(f: impl FnOnce() -> T) -> T {
    if log().is_none() {
        return f();
    }
    SLEPT.with(|s| s.set(Duration::ZERO));
    let t = Instant::now();
    let out = f();
    let work = t.elapsed().saturating_sub(SLEPT.with(Cell::get));
    let w = Instant::now();
    write_line("fake_work", work + CARRY.with(Cell::get));
    CARRY.with(|c| c.set(w.elapsed()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_issues_example() {
        let l = Latency::parse("init=20,gi_create=90,gi_destroy=140,ci_create=30,ci_destroy=20")
            .unwrap();
        assert_eq!(l.of(Kind::Init), Duration::from_millis(20));
        assert_eq!(l.of(Kind::GiCreate), Duration::from_millis(90));
        assert_eq!(l.of(Kind::GiDestroy), Duration::from_millis(140));
        assert_eq!(l.of(Kind::CiCreate), Duration::from_millis(30));
        assert_eq!(l.of(Kind::CiDestroy), Duration::from_millis(20));
        assert_eq!(l.of(Kind::Shutdown), Duration::ZERO);
        assert_eq!(l.of(Kind::GiList), Duration::ZERO);
    }

    #[test]
    fn spaces_fractions_and_empty_are_accepted() {
        let l = Latency::parse(" gi_list = 0.5 , shutdown=3,").unwrap();
        assert_eq!(l.of(Kind::GiList), Duration::from_micros(500));
        assert_eq!(l.of(Kind::Shutdown), Duration::from_millis(3));
        assert_eq!(Latency::parse("").unwrap(), Latency::default());
    }

    #[test]
    fn unknown_kinds_and_bad_values_are_errors_that_say_why() {
        let e = Latency::parse("init=20,gi_crate=90").unwrap_err();
        assert!(e.contains("unknown call kind \"gi_crate\""), "{e}");
        assert!(e.contains("gi_create"), "{e}");
        let e = Latency::parse("init=fast").unwrap_err();
        assert!(e.contains("not a number of milliseconds"), "{e}");
        assert!(Latency::parse("init=-1").is_err());
        assert!(Latency::parse("init")
            .unwrap_err()
            .contains("kind=milliseconds"));
    }
}
