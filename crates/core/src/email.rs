//! What the hub takes as an email address: one rule for a form's email fields, the Looker user's
//! address (`user_email`) and the address an OAuth login reports.

/// Longest email address (RFC 5321's path limit).
pub const MAX_EMAIL_CHARS: usize = 254;

/// A plausible address: one `@`, a non-empty local part, a dotted domain, no spaces or control
/// characters, at most [`MAX_EMAIL_CHARS`]. Deliverability is the provider's to prove (an OAuth
/// login's address is verified by it); this only refuses what cannot be an address.
pub fn is_email(s: &str) -> bool {
    if s.chars().count() > MAX_EMAIL_CHARS || s.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return false;
    }
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains("..")
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_has_one_at_and_a_dotted_domain() {
        for good in ["a@b.co", "Ann@Example.com", "p@mycompany.looker.com"] {
            assert!(is_email(good), "{good}");
        }
        let long = format!("{}@example.com", "a".repeat(MAX_EMAIL_CHARS));
        for bad in [
            "a@b", "@b.co", "a b@c.de", "a@@b.co", "a@b..co", "a@.b.co", "a@b.co.", "ab.co", &long,
        ] {
            assert!(!is_email(bad), "{bad}");
        }
    }
}
