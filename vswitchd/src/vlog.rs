//! Logging: timestamped lines on stderr (the log file when detached), with a
//! level that `vlog/set` changes at run time.

use std::sync::atomic::{AtomicU8, Ordering};

/// Levels, most severe first (Open vSwitch's names).
pub const LEVELS: [&str; 6] = ["off", "emer", "err", "warn", "info", "dbg"];

static LEVEL: AtomicU8 = AtomicU8::new(4);

/// The current level's index in [`LEVELS`].
pub fn level() -> u8 {
    LEVEL.load(Ordering::Relaxed)
}

/// Sets the level from a spec: `LEVEL`, or `[MODULE:][DESTINATION:]LEVEL` as
/// `ovs-appctl vlog/set` takes it (module and destination are accepted for
/// compatibility; rvs has one log).
pub fn set(spec: &str) -> Result<(), String> {
    let name = spec.rsplit(':').next().unwrap_or(spec);
    match LEVELS.iter().position(|l| *l == name) {
        Some(i) => {
            LEVEL.store(i as u8, Ordering::Relaxed);
            Ok(())
        }
        None => Err(format!(
            "unknown log level {name:?}: use one of {}",
            LEVELS.join(", ")
        )),
    }
}

/// Writes one line at level `lvl` (an index in [`LEVELS`]) if enabled.
pub fn log(lvl: u8, msg: std::fmt::Arguments<'_>) {
    if lvl <= level() && lvl > 0 {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        eprintln!("{t:.3}|{}|{msg}", LEVELS[lvl as usize]);
    }
}

/// Logs at `info`.
#[macro_export]
macro_rules! info {
    ($($a:tt)*) => { $crate::vlog::log(4, format_args!($($a)*)) };
}

/// Logs at `warn`.
#[macro_export]
macro_rules! warn {
    ($($a:tt)*) => { $crate::vlog::log(3, format_args!($($a)*)) };
}

#[cfg(test)]
mod tests {
    #[test]
    fn levels_parse_in_ovs_spec_forms() {
        assert!(super::set("dbg").is_ok());
        assert_eq!(super::level(), 5);
        assert!(super::set("ANY:console:warn").is_ok());
        assert_eq!(super::level(), 3);
        assert!(super::set("loud").is_err());
        super::set("info").unwrap();
    }
}
