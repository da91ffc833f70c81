//! Date and time texts of the recordings (`EventTime`, `EventTV`, `CoreStartupDate`) from epoch seconds.

/// `(year, month, day, hour, minute, second)` in UTC for epoch seconds.
fn civil(epoch: u64) -> (i64, u32, u32, u32, u32, u32) {
    let days = (epoch / 86_400) as i64;
    let rem = epoch % 86_400;
    // Howard Hinnant's days_from_civil inverse, valid for every date after 1970.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        month,
        day,
        (rem / 3_600) as u32,
        (rem % 3_600 / 60) as u32,
        (rem % 60) as u32,
    )
}

/// `2026-11-23`.
pub fn date(epoch: u64) -> String {
    let (y, mo, d, ..) = civil(epoch);
    format!("{y:04}-{mo:02}-{d:02}")
}

/// `07:15:37`.
pub fn time(epoch: u64) -> String {
    let (_, _, _, h, mi, s) = civil(epoch);
    format!("{h:02}:{mi:02}:{s:02}")
}

/// `2026-11-23 07:16:43`, the CEL and CDR format.
pub fn date_time(epoch: u64) -> String {
    format!("{} {}", date(epoch), time(epoch))
}

/// `Mon Dec  7 09:09:01 PM UTC 2026`: app_voicemail's `origdate` (`%a %b %e %r %Z %Y`),
/// as `VoicemailBoxDetail` shows it in ami-session-3.txt.
pub fn voicemail_date(epoch: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, mo, d, h, mi, s) = civil(epoch);
    let weekday = DAYS[((epoch / 86_400) % 7) as usize];
    let month = MONTHS[(mo as usize).saturating_sub(1) % 12];
    let (h12, half) = match h {
        0 => (12, "AM"),
        1..=11 => (h, "AM"),
        12 => (12, "PM"),
        _ => (h - 12, "PM"),
    };
    format!("{weekday} {month} {d:>2} {h12:02}:{mi:02}:{s:02} {half} UTC {y}")
}

/// `2026-11-23T07:16:42.823+0000`, the security events' format.
pub fn event_tv(epoch_ms: u64) -> String {
    let (y, mo, d, h, mi, s) = civil(epoch_ms / 1_000);
    format!(
        "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:03}+0000",
        epoch_ms % 1_000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_the_recordings() {
        // 1795418203 is the Uniqueid epoch of a call recorded at 07:16:43 UTC on 2026-11-23.
        assert_eq!(date_time(1_795_418_203), "2026-11-23 07:16:43");
        // The message ami-session-3.txt left (ID 1796677741-00000000).
        assert_eq!(
            voicemail_date(1_796_677_741),
            "Mon Dec  7 09:09:01 PM UTC 2026"
        );
        assert_eq!(event_tv(1_795_418_202_823), "2026-11-23T07:16:42.823+0000");
        assert_eq!(date(951_782_400), "2000-02-29");
    }
}
