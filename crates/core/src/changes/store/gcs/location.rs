//! Where in Cloud Storage the memory lives: `bucket[/prefix]` (`HUB_CHANGE_BUCKET`), checked
//! against Cloud Storage's naming rules so that a typo is refused at start, not at the first run.

/// A bucket and the folder inside it that holds every scope's objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The bucket's name.
    pub bucket: String,
    /// The folder of the objects, without slashes at either end; empty: the bucket's root.
    pub prefix: String,
}

/// Longest prefix accepted: object names are at most 1 024 bytes, and a scope, a snapshot name
/// and a part number follow the prefix.
const PREFIX_MAX: usize = 512;

impl Location {
    /// Parse `bucket` or `bucket/prefix` (a leading `gs://` is accepted).
    pub fn parse(text: &str) -> Result<Location, String> {
        let text = text.trim();
        let text = text.strip_prefix("gs://").unwrap_or(text);
        let (bucket, prefix) = text.split_once('/').unwrap_or((text, ""));
        let prefix = prefix.trim_end_matches('/');
        bucket_name_ok(bucket)?;
        prefix_ok(prefix)?;
        Ok(Location {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }

    /// `gs://bucket/prefix`, for messages.
    pub fn url(&self) -> String {
        if self.prefix.is_empty() {
            format!("gs://{}", self.bucket)
        } else {
            format!("gs://{}/{}", self.bucket, self.prefix)
        }
    }

    /// The name of an object `rest` under the prefix.
    pub fn object(&self, rest: &str) -> String {
        if self.prefix.is_empty() {
            rest.to_string()
        } else {
            format!("{}/{rest}", self.prefix)
        }
    }
}

/// Cloud Storage's rules for a bucket name: 3 to 63 characters (222 with dots, each dot-separated
/// part at most 63), lowercase letters, digits, `-`, `_` and `.`, starting and ending with a letter
/// or a digit, not an IP address, not starting with `goog`.
fn bucket_name_ok(name: &str) -> Result<(), String> {
    let shown: String = name.chars().take(80).collect();
    let refuse = |why: &str| {
        Err(format!(
            "{shown:?} is not a Cloud Storage bucket name: {why}"
        ))
    };
    if name.is_empty() {
        return Err("no bucket named (expected bucket or bucket/prefix)".into());
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.'))
    {
        return refuse("only lowercase letters, digits, '-', '_' and '.' are allowed");
    }
    let edge_ok = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !edge_ok(name.bytes().next()) || !edge_ok(name.bytes().last()) {
        return refuse("it must start and end with a letter or a digit");
    }
    let max = if name.contains('.') { 222 } else { 63 };
    if name.len() < 3 || name.len() > max || name.split('.').any(|p| p.is_empty() || p.len() > 63) {
        return refuse("3 to 63 characters (222 with dots, each part between dots 1 to 63)");
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return refuse("it cannot be an IP address");
    }
    if name.starts_with("goog") {
        return refuse("it cannot start with \"goog\"");
    }
    Ok(())
}

/// A prefix is folder names separated by single slashes, none of them `.` or `..`, without
/// control characters (Cloud Storage refuses them in object names).
fn prefix_ok(prefix: &str) -> Result<(), String> {
    if prefix.is_empty() {
        return Ok(());
    }
    let shown: String = prefix.chars().take(80).collect();
    if prefix.len() > PREFIX_MAX {
        return Err(format!(
            "the prefix {shown:?}… is longer than {PREFIX_MAX} bytes"
        ));
    }
    if prefix.chars().any(char::is_control) {
        return Err(format!("the prefix {shown:?} has a control character"));
    }
    if prefix
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Err(format!(
            "the prefix {shown:?} has an empty, '.' or '..' folder name"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_alone_or_with_a_prefix_is_read_as_written() {
        let l = Location::parse("hub-state").unwrap();
        assert_eq!((l.bucket.as_str(), l.prefix.as_str()), ("hub-state", ""));
        assert_eq!(l.url(), "gs://hub-state");
        assert_eq!(l.object("s/head"), "s/head");
        let l = Location::parse(" gs://hub.state_1/changes/v1/ ").unwrap();
        assert_eq!(
            (l.bucket.as_str(), l.prefix.as_str()),
            ("hub.state_1", "changes/v1")
        );
        assert_eq!(l.url(), "gs://hub.state_1/changes/v1");
        assert_eq!(l.object("s/head"), "changes/v1/s/head");
    }

    #[test]
    fn names_cloud_storage_refuses_are_refused_with_the_rule() {
        for (text, rule) in [
            ("", "no bucket named"),
            ("/p", "no bucket named"),
            ("Hub", "lowercase"),
            ("hub state", "lowercase"),
            ("-hub", "start and end"),
            ("hub_", "start and end"),
            ("ab", "3 to 63"),
            (&"a".repeat(64), "3 to 63"),
            ("a..b", "3 to 63"),
            ("10.0.0.1", "IP address"),
            ("google-x", "goog"),
            ("bkt/a//c", "empty, '.' or '..'"),
            ("bkt/../c", "empty, '.' or '..'"),
            ("bkt/a\nc", "control character"),
        ] {
            let err = Location::parse(text).unwrap_err();
            assert!(err.contains(rule), "{text:?}: {err}");
        }
        assert!(Location::parse(&format!("b{}", "a".repeat(62))).is_ok());
        let long = format!("bkt/{}", "p".repeat(PREFIX_MAX + 1));
        assert!(Location::parse(&long).unwrap_err().contains("longer than"));
    }
}
