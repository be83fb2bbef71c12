//! Whose memory a run uses: one per (Looker instance, scheduled plan, action, destination), named
//! in the store by a fixed-length id that reveals none of them.

use sha2::{Digest, Sha256};

/// Whose memory: one per (Looker instance, scheduled plan, action, destination).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// The Looker instance the call came from, "" when unknown.
    pub looker_instance: String,
    /// The scheduled plan's id.
    pub scheduled_plan_id: String,
    /// The action's name.
    pub action: String,
    /// Where rows go: `source:<name>`, `plane:<url>#<sha256(write key)[..16]>` or
    /// `table:<dataset.table or table>`.
    pub destination: String,
}

impl Scope {
    /// The scope's name in the store: the first 32 hex digits of the SHA-256 of its parts, each
    /// preceded by its length (8 bytes, little-endian), so no two scopes share a name by the way
    /// their parts run into each other.
    pub fn id(&self) -> String {
        let mut hash = Sha256::new();
        for part in [
            &self.looker_instance,
            &self.scheduled_plan_id,
            &self.action,
            &self.destination,
        ] {
            hash.update((part.len() as u64).to_le_bytes());
            hash.update(part.as_bytes());
        }
        hex::encode(&hash.finalize()[..16])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(parts: [&str; 4]) -> Scope {
        Scope {
            looker_instance: parts[0].into(),
            scheduled_plan_id: parts[1].into(),
            action: parts[2].into(),
            destination: parts[3].into(),
        }
    }

    #[test]
    fn the_id_is_32_hex_digits_of_the_length_prefixed_parts() {
        let id = scope(["looker-1", "42", "rudder_event", "source:crm"]).id();
        assert_eq!(id.len(), 32);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        let mut expected = Sha256::new();
        for p in ["looker-1", "42", "rudder_event", "source:crm"] {
            expected.update((p.len() as u64).to_le_bytes());
            expected.update(p);
        }
        assert_eq!(id, hex::encode(&expected.finalize()[..16]));
    }

    #[test]
    fn parts_cannot_run_into_each_other() {
        let a = scope(["", "12", "3", "x"]).id();
        let b = scope(["", "1", "23", "x"]).id();
        assert_ne!(a, b);
        assert_ne!(
            scope(["l", "1", "a", "source:x"]).id(),
            scope(["l", "2", "a", "source:x"]).id()
        );
    }
}
