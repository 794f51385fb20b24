//! UTC calendar arithmetic for the expression language's time functions: unix seconds to a
//! civil date and back, and the strftime / strptime subsets `timefmt` and `parsetime` accept.
//! No time zones, no locale: the reference runs these in UTC with the C locale.

const DAY_NAMES: [&str; 7] =
    ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// A UTC instant broken into calendar parts (the fields of C's `struct tm`, with a 1-based
/// month).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    /// Full year.
    pub year: i64,
    /// 1..=12.
    pub month: i64,
    /// 1..=31.
    pub day: i64,
    /// 0..=23.
    pub hour: i64,
    /// 0..=59.
    pub minute: i64,
    /// 0..=59.
    pub second: i64,
    /// 0 = Sunday.
    pub weekday: i64,
    /// 0-based day of the year.
    pub year_day: i64,
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days since 1970-01-01 of a proleptic Gregorian date (era-based, valid for any year).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let shifted_month = (month + 9) % 12; // March = 0
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Unix seconds of a UTC civil time.
pub fn unix_from_civil(
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
) -> i64 {
    days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
}

impl Civil {
    /// Breaks unix seconds (UTC) into calendar parts.
    pub fn from_unix(seconds: i64) -> Civil {
        let days = seconds.div_euclid(86_400);
        let secs_of_day = seconds.rem_euclid(86_400);
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let day_of_era = z - era * 146_097;
        let year_of_era =
            (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let shifted_month = (5 * day_of_year + 2) / 153;
        let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
        let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 };
        let year = year_of_era + era * 400 + i64::from(month <= 2);
        Civil {
            year,
            month,
            day,
            hour: secs_of_day / 3600,
            minute: secs_of_day % 3600 / 60,
            second: secs_of_day % 60,
            weekday: (days + 4).rem_euclid(7),
            year_day: days - days_from_civil(year, 1, 1),
        }
    }
}

/// Formats unix seconds (UTC) with a strftime pattern; unknown conversions are kept as typed.
pub fn strftime(seconds: i64, pattern: &str) -> String {
    let t = Civil::from_unix(seconds);
    let mut out = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(spec) = chars.next() else {
            out.push('%');
            break;
        };
        let piece = match spec {
            'Y' => t.year.to_string(),
            'C' => format!("{:02}", t.year.div_euclid(100)),
            'y' => format!("{:02}", t.year.rem_euclid(100)),
            'm' => format!("{:02}", t.month),
            'd' => format!("{:02}", t.day),
            'e' => format!("{:2}", t.day),
            'H' => format!("{:02}", t.hour),
            'I' => format!("{:02}", (t.hour + 11) % 12 + 1),
            'M' => format!("{:02}", t.minute),
            'S' => format!("{:02}", t.second),
            'j' => format!("{:03}", t.year_day + 1),
            'F' => format!("{}-{:02}-{:02}", t.year, t.month, t.day),
            'T' => format!("{:02}:{:02}:{:02}", t.hour, t.minute, t.second),
            'R' => format!("{:02}:{:02}", t.hour, t.minute),
            'D' => format!("{:02}/{:02}/{:02}", t.month, t.day, t.year.rem_euclid(100)),
            'a' => DAY_NAMES[t.weekday as usize][..3].to_owned(),
            'A' => DAY_NAMES[t.weekday as usize].to_owned(),
            'b' | 'h' => MONTH_NAMES[(t.month - 1) as usize][..3].to_owned(),
            'B' => MONTH_NAMES[(t.month - 1) as usize].to_owned(),
            'p' => if t.hour < 12 { "AM" } else { "PM" }.to_owned(),
            'u' => (if t.weekday == 0 { 7 } else { t.weekday }).to_string(),
            'w' => t.weekday.to_string(),
            's' => seconds.to_string(),
            'Z' => "GMT".to_owned(),
            'z' => "+0000".to_owned(),
            'n' => "\n".to_owned(),
            't' => "\t".to_owned(),
            '%' => "%".to_owned(),
            other => format!("%{other}"),
        };
        out.push_str(&piece);
    }
    out
}

/// Parses `text` with a strptime pattern into unix seconds (UTC); `None` when it does not
/// match. Fields the pattern lacks default to 1900-01-01 00:00:00 like C's zeroed `struct tm`.
pub fn strptime(text: &str, pattern: &str) -> Option<i64> {
    let mut input = text.as_bytes();
    let (mut year, mut month, mut day) = (1900_i64, 1_i64, 1_i64);
    let (mut hour, mut minute, mut second) = (0_i64, 0_i64, 0_i64);
    let mut year_day: Option<i64> = None;
    let mut epoch: Option<i64> = None;
    let mut pm: Option<bool> = None;
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c.is_whitespace() {
            input = skip_spaces(input);
            continue;
        }
        if c != '%' {
            let mut buf = [0u8; 4];
            let expected = c.encode_utf8(&mut buf).as_bytes();
            input = input.strip_prefix(expected)?;
            continue;
        }
        match chars.next()? {
            'Y' => year = take_number(&mut input, 4, true)?,
            'y' => {
                let short = take_number(&mut input, 2, false)?;
                year = if short < 69 { 2000 + short } else { 1900 + short };
            }
            'm' => month = take_number(&mut input, 2, false)?,
            'd' | 'e' => day = take_number(&mut input, 2, false)?,
            'H' => hour = take_number(&mut input, 2, false)?,
            'I' => hour = take_number(&mut input, 2, false)? % 12,
            'M' => minute = take_number(&mut input, 2, false)?,
            'S' => second = take_number(&mut input, 2, false)?,
            'j' => year_day = Some(take_number(&mut input, 3, false)? - 1),
            's' => epoch = Some(take_number(&mut input, 20, true)?),
            'F' => {
                year = take_number(&mut input, 4, true)?;
                input = input.strip_prefix(b"-")?;
                month = take_number(&mut input, 2, false)?;
                input = input.strip_prefix(b"-")?;
                day = take_number(&mut input, 2, false)?;
            }
            'T' => {
                hour = take_number(&mut input, 2, false)?;
                input = input.strip_prefix(b":")?;
                minute = take_number(&mut input, 2, false)?;
                input = input.strip_prefix(b":")?;
                second = take_number(&mut input, 2, false)?;
            }
            'b' | 'B' | 'h' => month = take_name(&mut input, &MONTH_NAMES)? + 1,
            'a' | 'A' => {
                take_name(&mut input, &DAY_NAMES)?;
            }
            'p' => {
                let upper = input.get(..2)?.to_ascii_uppercase();
                pm = Some(match upper.as_slice() {
                    b"AM" => false,
                    b"PM" => true,
                    _ => return None,
                });
                input = &input[2..];
            }
            'Z' => {
                let letters = input.iter().take_while(|b| b.is_ascii_alphabetic()).count();
                input = &input[letters..];
            }
            'n' | 't' => input = skip_spaces(input),
            '%' => input = input.strip_prefix(b"%")?,
            _ => return None,
        }
    }
    if let Some(seconds) = epoch {
        return Some(seconds);
    }
    if pm == Some(true) {
        hour += 12;
    }
    let valid = (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && (0..=23).contains(&hour)
        && (0..=59).contains(&minute)
        && (0..=60).contains(&second);
    if !valid {
        return None;
    }
    if let Some(yday) = year_day {
        let days_in_year = if is_leap(year) { 366 } else { 365 };
        if !(0..days_in_year).contains(&yday) {
            return None;
        }
        let start = unix_from_civil(year, 1, 1, hour, minute, second);
        return Some(start + yday * 86_400);
    }
    Some(unix_from_civil(year, month, day, hour, minute, second))
}

fn skip_spaces(input: &[u8]) -> &[u8] {
    let spaces = input.iter().take_while(|b| b.is_ascii_whitespace()).count();
    &input[spaces..]
}

fn take_number(input: &mut &[u8], max_digits: usize, signed: bool) -> Option<i64> {
    let mut text = skip_spaces(input);
    let negative = signed && text.first() == Some(&b'-');
    if negative || (signed && text.first() == Some(&b'+')) {
        text = &text[1..];
    }
    let digits = text.iter().take(max_digits).take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let value: i64 = std::str::from_utf8(&text[..digits]).ok()?.parse().ok()?;
    *input = &text[digits..];
    Some(if negative { -value } else { value })
}

fn take_name(input: &mut &[u8], names: &[&str]) -> Option<i64> {
    for (index, name) in names.iter().enumerate() {
        for candidate in [name.as_bytes(), &name.as_bytes()[..3]] {
            if input.len() >= candidate.len()
                && input[..candidate.len()].eq_ignore_ascii_case(candidate)
            {
                *input = &input[candidate.len()..];
                return Some(index as i64);
            }
        }
    }
    None
}
