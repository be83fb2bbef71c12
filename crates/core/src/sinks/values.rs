//! What a value of each column type may be, each rule once: the text forms read (decimal text,
//! JSON number text, dates, timestamps, yes / no words) and BigQuery's ranges (DATE and TIMESTAMP
//! from 0001-01-01 to 9999-12-31, INT64, NUMERIC's 29 integer and 9 fraction digits, FLOAT64
//! finite). Column conversions (`table::ColumnType::convert_*`) and form validation
//! (`declared::form`) both read values through these, so what a form accepts a column holds.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};

/// Digits BigQuery's NUMERIC keeps after the decimal point.
pub const NUMERIC_SCALE: usize = 9;
/// Digits BigQuery's NUMERIC keeps before the decimal point.
pub const NUMERIC_INTEGER_DIGITS: usize = 29;
/// The word a form offers and a message writes for yes.
pub const YES: &str = "yes";
/// The word a form offers and a message writes for no.
pub const NO: &str = "no";
/// Words read as yes (case aside).
pub const TRUE_WORDS: [&str; 3] = ["true", YES, "1"];
/// Words read as no (case aside).
pub const FALSE_WORDS: [&str; 3] = ["false", NO, "0"];
/// How a date is written (`2024-03-31`), read and shown.
pub const DATE_FORMAT: &str = "%Y-%m-%d";

/// [`YES`] or [`NO`].
pub fn yes_no(b: bool) -> &'static str {
    if b {
        YES
    } else {
        NO
    }
}

/// Why a value does not fit: a phrase that completes "got X: …" and "… has / is …" messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unfit {
    /// Not a number in the expected notation.
    NotNumber,
    /// A fraction where a whole number is expected.
    NotWhole,
    /// More fraction digits than NUMERIC keeps.
    Decimals,
    /// More integer digits than NUMERIC keeps.
    IntegerDigits,
    /// Outside INT64.
    Int64Range,
    /// Not a finite 64-bit float.
    Float64Range,
    /// Not a `YYYY-MM-DD` date.
    NotDate,
    /// Not a timestamp.
    NotTimestamp,
    /// Before 0001-01-01 or after 9999-12-31.
    DateRange,
    /// Not a yes / no word.
    NotBool,
}

impl Unfit {
    /// The reason as a phrase (`more than 9 digits after the decimal point`).
    pub fn phrase(self) -> String {
        match self {
            Unfit::NotNumber => "not a number".into(),
            Unfit::NotWhole => "not a whole number".into(),
            Unfit::Decimals => format!("more than {NUMERIC_SCALE} digits after the decimal point"),
            Unfit::IntegerDigits => {
                format!("more than {NUMERIC_INTEGER_DIGITS} digits before the decimal point")
            }
            Unfit::Int64Range => "out of INT64's range".into(),
            Unfit::Float64Range => "beyond a 64-bit float".into(),
            Unfit::NotDate => "not a date written as YYYY-MM-DD".into(),
            Unfit::NotTimestamp => "not a timestamp".into(),
            Unfit::DateRange => "outside 0001-01-01 … 9999-12-31".into(),
            Unfit::NotBool => format!(
                "not one of {} / {}",
                TRUE_WORDS.join(", "),
                FALSE_WORDS.join(", ")
            ),
        }
    }
}

/// A decimal number as digits: the integer part without leading zeros (empty for 0), the
/// fraction without trailing zeros.
#[derive(Debug, Clone, PartialEq)]
pub struct Decimal {
    negative: bool,
    int: String,
    frac: String,
}

impl std::fmt::Display for Decimal {
    /// The canonical text: no `+`, no exponent, no leading or trailing zero, `0` for zero.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.negative && !self.is_zero() {
            f.write_str("-")?;
        }
        f.write_str(if self.int.is_empty() { "0" } else { &self.int })?;
        if !self.frac.is_empty() {
            write!(f, ".{}", self.frac)?;
        }
        Ok(())
    }
}

fn all_digits(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

impl Decimal {
    fn new(negative: bool, int: &str, frac: &str) -> Decimal {
        Decimal {
            negative,
            int: int.trim_start_matches('0').to_string(),
            frac: frac.trim_end_matches('0').to_string(),
        }
    }

    fn is_zero(&self) -> bool {
        self.int.is_empty() && self.frac.is_empty()
    }

    /// Decimal text as people write it: an optional sign, digits with at most one decimal point
    /// (`-12.5`, `+3`, `.5`), no exponent.
    pub fn parse_text(t: &str) -> Result<Decimal, Unfit> {
        let negative = t.starts_with('-');
        let body = t.strip_prefix(['-', '+']).unwrap_or(t);
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        if int.is_empty() && frac.is_empty() || !all_digits(int) || !all_digits(frac) {
            return Err(Unfit::NotNumber);
        }
        Ok(Decimal::new(negative, int, frac))
    }

    /// The exact value of a JSON number's text (`-1e-09` → `-0.000000001`, `1E2` → `100`), never
    /// through a float. Numbers whose first digit is more than 100 places from the decimal point
    /// fit neither NUMERIC nor INT64: they are refused (`Decimals` / `IntegerDigits`) before any
    /// long text is built.
    pub fn parse_json(t: &str) -> Result<Decimal, Unfit> {
        use Unfit::NotNumber;
        let (negative, rest) = match t.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, t),
        };
        let (mantissa, exp) = match rest.find(['e', 'E']) {
            Some(i) => {
                let e = &rest[i + 1..];
                let e = e.strip_prefix('+').unwrap_or(e);
                let magnitude = e.strip_prefix('-').unwrap_or(e);
                if magnitude.is_empty() || !all_digits(magnitude) {
                    return Err(NotNumber);
                }
                // An exponent of more than 6 digits is out of range either way.
                if magnitude.trim_start_matches('0').len() > 6 {
                    return Err(if e.starts_with('-') {
                        Unfit::Decimals
                    } else {
                        Unfit::IntegerDigits
                    });
                }
                (&rest[..i], e.parse::<i64>().map_err(|_| NotNumber)?)
            }
            None => (rest, 0),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if int.is_empty()
            || (mantissa.contains('.') && frac.is_empty())
            || !all_digits(int)
            || !all_digits(frac)
        {
            return Err(NotNumber);
        }
        // All digits, with the decimal point after `point` of them.
        let digits = format!("{int}{frac}");
        let point = int.len() as i64 + exp;
        if digits.trim_matches('0').is_empty() {
            return Ok(Decimal::new(negative, "", ""));
        }
        let lead = (digits.len() - digits.trim_start_matches('0').len()) as i64;
        if point - lead > 100 {
            return Err(Unfit::IntegerDigits);
        }
        if point - lead < -100 {
            return Err(Unfit::Decimals);
        }
        let padded = if point < 0 {
            format!("{}{digits}", "0".repeat((-point) as usize))
        } else if point as usize > digits.len() {
            format!("{digits}{}", "0".repeat(point as usize - digits.len()))
        } else {
            digits
        };
        let (i, f) = padded.split_at(point.max(0) as usize);
        Ok(Decimal::new(negative, i, f))
    }

    /// The value as a NUMERIC: its canonical text, if it has at most 29 integer and 9 fraction
    /// digits.
    pub fn numeric(&self) -> Result<String, Unfit> {
        if self.frac.len() > NUMERIC_SCALE {
            return Err(Unfit::Decimals);
        }
        if self.int.len() > NUMERIC_INTEGER_DIGITS {
            return Err(Unfit::IntegerDigits);
        }
        Ok(self.to_string())
    }

    /// The value as an INT64.
    pub fn int64(&self) -> Result<i64, Unfit> {
        if !self.frac.is_empty() {
            return Err(Unfit::NotWhole);
        }
        if self.int.len() > 19 {
            return Err(Unfit::Int64Range);
        }
        self.to_string().parse().map_err(|_| Unfit::Int64Range)
    }
}

/// Decimal text (as [`Decimal::parse_text`]) as a NUMERIC's canonical text.
pub fn numeric_text(t: &str) -> Result<String, Unfit> {
    Decimal::parse_text(t)?.numeric()
}

/// A JSON number's text as a NUMERIC's canonical text, exactly.
pub fn numeric_json(t: &str) -> Result<String, Unfit> {
    Decimal::parse_json(t)?.numeric()
}

/// Whole-number text (`42`, `+7`, `-0`; no decimal point) as an INT64.
pub fn int64_text(t: &str) -> Result<i64, Unfit> {
    if t.contains('.') {
        return Err(Unfit::NotWhole);
    }
    Decimal::parse_text(t)?.int64()
}

/// A JSON number's text as an INT64, exactly (`1E2` is 100, `2.5e1` 25).
pub fn int64_json(t: &str) -> Result<i64, Unfit> {
    Decimal::parse_json(t)
        .map_err(|e| match e {
            Unfit::Decimals => Unfit::NotWhole,
            Unfit::IntegerDigits => Unfit::Int64Range,
            e => e,
        })?
        .int64()
}

/// Decimal text (as [`Decimal::parse_text`]) or a JSON number's text (`1.5e-7`, as BigQuery
/// reads a FLOAT64 from text) as a FLOAT64: any number of digits, finite; never `inf` or `NaN`.
pub fn float64_text(t: &str) -> Result<f64, Unfit> {
    if Decimal::parse_text(t).is_err() {
        float64_json(t)?;
    }
    finite(t)
}

/// A JSON number's text as a FLOAT64 (the nearest double), finite.
pub fn float64_json(t: &str) -> Result<f64, Unfit> {
    Decimal::parse_json(t).map(drop).or_else(|e| match e {
        // Far beyond NUMERIC, but a double may still hold it (1e300) or round it to 0.
        Unfit::Decimals | Unfit::IntegerDigits => Ok(()),
        e => Err(e),
    })?;
    finite(t)
}

fn finite(t: &str) -> Result<f64, Unfit> {
    match t.parse::<f64>() {
        Ok(f) if f.is_finite() => Ok(f),
        Ok(_) => Err(Unfit::Float64Range),
        Err(_) => Err(Unfit::NotNumber),
    }
}

/// First day BigQuery's DATE (and TIMESTAMP) holds.
pub fn first_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(1, 1, 1).unwrap_or(NaiveDate::MIN)
}

/// Last day BigQuery's DATE (and TIMESTAMP) holds.
pub fn last_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(9999, 12, 31).unwrap_or(NaiveDate::MAX)
}

/// A date written `YYYY-MM-DD` (exactly: `2024-2-1` is not one) within DATE's range.
pub fn date(t: &str) -> Result<NaiveDate, Unfit> {
    let d = NaiveDate::parse_from_str(t, DATE_FORMAT)
        .ok()
        .filter(|_| t.len() == 10 && t.as_bytes()[0].is_ascii_digit())
        .ok_or(Unfit::NotDate)?;
    if d < first_date() || d > last_date() {
        return Err(Unfit::DateRange);
    }
    Ok(d)
}

/// An instant, RFC 3339 (`2026-02-03T04:05:06+01:00`) or `YYYY-MM-DD HH:MM:SS[.ffffff]` in UTC,
/// within TIMESTAMP's range (0001-01-01 00:00:00 … 9999-12-31 23:59:59.999999 UTC).
pub fn timestamp(t: &str) -> Result<DateTime<Utc>, Unfit> {
    let ts = DateTime::parse_from_rfc3339(t)
        .map(|d| d.with_timezone(&Utc))
        .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f").map(|n| n.and_utc()))
        .map_err(|_| Unfit::NotTimestamp)?;
    let first = first_date().and_time(NaiveTime::MIN).and_utc();
    let after_last = last_date()
        .succ_opt()
        .map(|d| d.and_time(NaiveTime::MIN).and_utc());
    if ts < first || after_last.is_some_and(|end| ts >= end) {
        return Err(Unfit::DateRange);
    }
    Ok(ts)
}

/// A yes / no word ([`TRUE_WORDS`], [`FALSE_WORDS`], case aside).
pub fn boolean(t: &str) -> Result<bool, Unfit> {
    let is = |words: &[&str]| words.iter().any(|w| w.eq_ignore_ascii_case(t));
    if is(&TRUE_WORDS) {
        Ok(true)
    } else if is(&FALSE_WORDS) {
        Ok(false)
    } else {
        Err(Unfit::NotBool)
    }
}

/// The first number in a JSON text that no 64-bit float holds (`1e999999`, an integer of 400
/// digits), as written; strings are skipped. What BigQuery's JSON type and the JSON readers of the
/// hub's peers keep of a number is a double (or a 64-bit integer).
pub fn number_beyond_double(json: &str) -> Option<&str> {
    let b = json.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < b.len() && matches!(b[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    i += 1;
                }
                let n = &json[start..i];
                if n.parse::<f64>().is_ok_and(f64::is_infinite) {
                    return Some(n);
                }
            }
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_timestamps_stay_within_bigquerys_range() {
        assert_eq!(date("0001-01-01"), Ok(first_date()));
        assert_eq!(date("9999-12-31"), Ok(last_date()));
        assert_eq!(date("0000-01-01"), Err(Unfit::DateRange));
        assert_eq!(date("0000-12-31"), Err(Unfit::DateRange));
        for bad in [
            "2024-2-1",
            "-001-01-01",
            "+2024-01-01",
            "10000-01-01",
            "2023-02-29",
        ] {
            assert!(date(bad).is_err(), "{bad}");
        }
        assert!(timestamp("0001-01-01T00:00:00Z").is_ok());
        assert!(timestamp("9999-12-31 23:59:59.999999").is_ok());
        // In range as written, outside once in UTC.
        assert_eq!(
            timestamp("0001-01-01T00:30:00+01:00"),
            Err(Unfit::DateRange)
        );
        assert_eq!(
            timestamp("9999-12-31T23:30:00-01:00"),
            Err(Unfit::DateRange)
        );
        assert_eq!(timestamp("0000-06-01 00:00:00"), Err(Unfit::DateRange));
        assert_eq!(timestamp("yesterday"), Err(Unfit::NotTimestamp));
    }

    #[test]
    fn numbers_are_held_to_their_columns_limits() {
        let numeric = |t: &str| Decimal::parse_text(t).and_then(|d| d.numeric());
        assert_eq!(numeric("012.50"), Ok("12.5".into()));
        assert_eq!(numeric("+.5"), Ok("0.5".into()));
        assert_eq!(numeric("-0.0"), Ok("0".into()));
        assert_eq!(numeric(&"9".repeat(29)), Ok("9".repeat(29)));
        assert_eq!(numeric(&"9".repeat(30)), Err(Unfit::IntegerDigits));
        assert_eq!(numeric("1.0000000001"), Err(Unfit::Decimals));
        assert_eq!(numeric("1e5"), Err(Unfit::NotNumber));
        let json = |t: &str| Decimal::parse_json(t).and_then(|d| d.numeric());
        assert_eq!(json("1e999999"), Err(Unfit::IntegerDigits));
        assert_eq!(
            json(&format!("1{}", "0".repeat(10_000))),
            Err(Unfit::IntegerDigits)
        );
        assert_eq!(int64_json("9223372036854775808"), Err(Unfit::Int64Range));
        assert_eq!(int64_json("1e999999"), Err(Unfit::Int64Range));
        assert_eq!(int64_json("1e-999999"), Err(Unfit::NotWhole));
        assert_eq!(int64_json("-2.50e1"), Ok(-25));
        assert_eq!(int64_text("+7"), Ok(7));
        assert_eq!(int64_text("7.0"), Err(Unfit::NotWhole));
        assert_eq!(float64_json("1e999999"), Err(Unfit::Float64Range));
        assert_eq!(float64_json("1e300"), Ok(1e300));
        assert_eq!(float64_json("1e-999999"), Ok(0.0));
        assert_eq!(
            float64_text(&format!("1{}", "0".repeat(400))),
            Err(Unfit::Float64Range)
        );
        assert_eq!(float64_text("inf"), Err(Unfit::NotNumber));
        assert_eq!(float64_text("1.5e-7"), Ok(1.5e-7));
        assert_eq!(float64_text("1e999"), Err(Unfit::Float64Range));
        assert_eq!(float64_text("NaN"), Err(Unfit::NotNumber));
        assert_eq!(boolean("Yes"), Ok(true));
        assert_eq!(boolean("0"), Ok(false));
        assert_eq!(boolean("maybe"), Err(Unfit::NotBool));
        assert_eq!(
            number_beyond_double(r#"{"a\"1e999":{"value":[1e308,-2E999999]}}"#),
            Some("-2E999999")
        );
        assert_eq!(number_beyond_double(r#"{"a":"1e999","b":1e-999}"#), None);
    }
}
