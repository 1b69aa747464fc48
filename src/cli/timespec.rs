//! `--from-time`: a point in time as an operator writes it, turned into milliseconds since
//! the Unix epoch (what the admin API's offset-for-time route takes).

/// A parsed `--from-time`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeSpec {
    /// Milliseconds since the Unix epoch.
    At(u64),
    /// This many milliseconds before now.
    Ago(u64),
}

impl TimeSpec {
    /// Milliseconds since the epoch, given the wall clock's `now_ms`.
    pub fn resolve(self, now_ms: u64) -> u64 {
        match self {
            TimeSpec::At(ms) => ms,
            TimeSpec::Ago(ms) => now_ms.saturating_sub(ms),
        }
    }
}

/// Parses milliseconds since the epoch (`1795834800000`), an RFC 3339 time in UTC
/// (`2026-11-28T03:00:00Z`, fractions of a second allowed) or an age (`90s`, `15m`, `2h`, `7d`).
pub fn parse(s: &str) -> Result<TimeSpec, String> {
    let s = s.trim();
    if let Ok(ms) = s.parse::<u64>() {
        return Ok(TimeSpec::At(ms));
    }
    if let Some(ago) = age(s) {
        return Ok(TimeSpec::Ago(ago));
    }
    rfc3339_utc(s).map(TimeSpec::At).ok_or_else(|| {
        format!("{s:?} is not a time: expected milliseconds since the epoch, 2026-11-28T03:00:00Z, or an age like 15m")
    })
}

/// `90s`, `15m`, `2h`, `7d` in milliseconds.
fn age(s: &str) -> Option<u64> {
    let unit_ms = match s.chars().last()? {
        's' => 1_000,
        'm' => 60_000,
        'h' => 3_600_000,
        'd' => 86_400_000,
        _ => return None,
    };
    let n: u64 = s.get(..s.len() - 1)?.parse().ok()?;
    n.checked_mul(unit_ms)
}

/// `YYYY-MM-DDTHH:MM:SS[.fff]Z` (a space for the `T` and a lower-case `z` accepted).
fn rfc3339_utc(s: &str) -> Option<u64> {
    let s = s.strip_suffix('Z').or_else(|| s.strip_suffix('z'))?;
    let (date, time) = s.split_once(['T', 't', ' '])?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<u32>().ok());
    let (year, month, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.splitn(3, ':').map(|p| p.parse::<u32>().ok());
    let (hour, minute, second) = (t.next()??, t.next()??, t.next()??);
    if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) || day == 0 || day > days_in(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let millis: u64 = format!("{fraction:0<3}").get(..3)?.parse().ok()?;
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + u64::from(hour) * 3_600 + u64::from(minute) * 60 + u64::from(second);
    Some(secs * 1_000 + millis)
}

fn leap(year: u32) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in(year: u32, month: u32) -> u32 {
    match month {
        2 if leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a date at or after it.
fn days_from_civil(year: u32, month: u32, day: u32) -> u64 {
    let years = (1970..year).map(|y| if leap(y) { 366 } else { 365 }).sum::<u64>();
    let months = (1..month).map(|m| u64::from(days_in(year, m))).sum::<u64>();
    years + months + u64::from(day - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_milliseconds_and_ages() {
        assert_eq!(parse("1795834800000"), Ok(TimeSpec::At(1_795_834_800_000)));
        assert_eq!(parse("15m"), Ok(TimeSpec::Ago(900_000)));
        assert_eq!(parse("2h").map(|t| t.resolve(10_000_000)), Ok(10_000_000 - 7_200_000));
        assert_eq!(parse("7d").map(|t| t.resolve(1)), Ok(0), "saturates at the epoch");
    }

    #[test]
    fn rfc3339_in_utc() {
        assert_eq!(parse("1970-01-01T00:00:00Z"), Ok(TimeSpec::At(0)));
        assert_eq!(parse("2000-03-01T00:00:00.5Z"), Ok(TimeSpec::At(951_868_800_500)));
        assert_eq!(parse("2026-11-28T03:00:00Z"), Ok(TimeSpec::At(1_795_834_800_000)));
    }

    #[test]
    fn nonsense_is_refused_not_a_panic() {
        for bad in [
            "",
            "yesterday",
            "2026-02-30T00:00:00Z",
            "2026-11-28T25:00:00Z",
            "2026-11-28",
            "ms",
            "-5m",
            "99999999999999999999d",
            "2026-11-28T03:00:00.x1Z",
            "2026-1é-01T00:00:00Z",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
