//! Counts as the messages write them: digits grouped by threes (`1 234 567`), with a noun of
//! the right number (`1 row`, `2 345 rows`).

/// `1234567` → `1 234 567` (the digit grouping of the messages).
pub fn group_digits(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// `1 row`, `2 345 rows`.
pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", group_digits(n), if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_grouped() {
        assert_eq!(group_digits(0), "0");
        assert_eq!(group_digits(999), "999");
        assert_eq!(group_digits(1000), "1 000");
        assert_eq!(group_digits(99_700), "99 700");
        assert_eq!(group_digits(1_234_567), "1 234 567");
    }
}
