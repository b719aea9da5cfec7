//! Recurring time windows: freeze windows and business hours.
//!
//! A window opens at each time its cron expression names, read in its time zone, and
//! stays open for its duration. "Mondays to Fridays, 9:00 to 18:00 in Paris" is
//! `cron: "0 9 * * MON-FRI"`, `duration: 9h`, `timezone: Europe/Paris`; a weekend freeze
//! is `cron: "0 18 * * FRI"`, `duration: 62h`. Daylight-saving changes follow the zone.

use std::str::FromStr;

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use croner::Cron;

/// A checked window.
#[derive(Debug, Clone)]
pub struct Window {
    /// Its name, shown in explanations.
    pub name: String,
    /// The cron expression as written.
    pub cron_text: String,
    cron: Cron,
    /// How long it stays open.
    pub duration: TimeDelta,
    /// The zone the cron expression is read in.
    pub timezone: Tz,
}

impl Window {
    /// Build a window, or say which part is wrong.
    pub fn new(
        name: &str,
        cron: &str,
        duration: std::time::Duration,
        timezone: Option<&str>,
    ) -> Result<Window, String> {
        let parsed = Cron::from_str(cron).map_err(|e| format!("cron `{cron}`: {e}"))?;
        let timezone = match timezone {
            Some(tz) => Tz::from_str(tz).map_err(|_| format!("unknown time zone `{tz}`"))?,
            None => Tz::UTC,
        };
        let duration = TimeDelta::from_std(duration).map_err(|e| format!("duration: {e}"))?;
        Ok(Window {
            name: name.to_string(),
            cron_text: cron.to_string(),
            cron: parsed,
            duration,
            timezone,
        })
    }

    /// Whether the window is open at `now`: the last opening at or before `now` is less
    /// than `duration` ago.
    pub fn contains(&self, now: DateTime<Utc>) -> bool {
        let local = now.with_timezone(&self.timezone);
        match self.cron.find_previous_occurrence(&local, true) {
            Ok(start) => local.signed_duration_since(start) < self.duration,
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::time::Duration;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    #[test]
    fn business_hours_in_a_time_zone() {
        // 2026-11-23 is a Monday; Paris is UTC+1 in November.
        let w = Window::new(
            "office",
            "0 9 * * MON-FRI",
            Duration::from_secs(9 * 3600),
            Some("Europe/Paris"),
        )
        .unwrap();
        assert!(w.contains(at(2026, 11, 23, 8, 0)), "09:00 Paris");
        assert!(!w.contains(at(2026, 11, 23, 7, 59)), "08:59 Paris");
        assert!(w.contains(at(2026, 11, 23, 16, 59)), "17:59 Paris");
        assert!(!w.contains(at(2026, 11, 23, 17, 0)), "18:00 Paris: closed");
        assert!(!w.contains(at(2026, 11, 28, 10, 0)), "Saturday");
    }

    #[test]
    fn a_weekend_freeze_spans_days() {
        let w = Window::new(
            "weekend",
            "0 18 * * FRI",
            Duration::from_secs(62 * 3600),
            None,
        )
        .unwrap();
        assert!(w.contains(at(2026, 11, 27, 18, 0)), "Friday 18:00");
        assert!(w.contains(at(2026, 11, 29, 23, 0)), "Sunday night");
        assert!(
            !w.contains(at(2026, 11, 30, 8, 0)),
            "Monday 08:00: open again"
        );
        assert!(!w.contains(at(2026, 11, 27, 17, 59)), "Friday before six");
    }

    #[test]
    fn bad_parts_are_named() {
        let d = Duration::from_secs(60);
        assert!(
            Window::new("x", "not cron", d, None)
                .unwrap_err()
                .contains("cron")
        );
        assert!(
            Window::new("x", "0 9 * * *", d, Some("Mars/Olympus"))
                .unwrap_err()
                .contains("time zone")
        );
    }
}
