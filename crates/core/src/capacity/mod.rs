//! What one instance takes on at once, and how long an execute may take: the execute budget
//! ([`budget`], from the platform's request timeout), the query-execute slots ([`slots`]: clicks
//! never wait behind schedules) and the memory budget ([`memory`]: requests in flight stay under
//! one setting). docs/operations.md: "Operating at scale".

pub mod budget;
pub mod memory;
pub mod slots;

use std::time::Duration;

use crate::config::{SettingsError, Vars};

pub use budget::ExecuteBudget;
pub use memory::{MemoryBudget, NoMemory, Reservation};
pub use slots::{NoSlot, QuerySlots, Slot};

/// Default of `HUB_EXECUTE_TIMEOUT_SECS`: terraform's default `execute_timeout_seconds`.
pub const DEFAULT_EXECUTE_TIMEOUT_SECS: u64 = 900;
/// Default of `HUB_QUERY_EXECUTES`.
pub const DEFAULT_QUERY_EXECUTES: usize = 4;
/// Default of `HUB_MEMORY_BUDGET_BYTES`: a 512 MiB instance less 128 MiB for the process itself.
pub const DEFAULT_MEMORY_BUDGET_BYTES: usize = 384 * 1024 * 1024;
/// Longest a request waits for memory before it is answered "busy": under Apigee's 60 s idle
/// timeout and the 60 s request timeout of the services other than execute (nothing is sent
/// while a body waits).
pub const MEMORY_WAIT: Duration = Duration::from_secs(30);

/// The capacity settings of an instance.
#[derive(Debug, Clone)]
pub struct CapacitySettings {
    /// From `HUB_EXECUTE_TIMEOUT_SECS`.
    pub execute: ExecuteBudget,
    /// `HUB_QUERY_EXECUTES`: query executes running at once (as many more may wait).
    pub query_executes: usize,
    /// `HUB_MEMORY_BUDGET_BYTES`.
    pub memory_budget_bytes: usize,
    /// Whether this process runs executes (only then are the query slots' working sets set
    /// aside); set by the start-up from the functions served.
    pub serves_executes: bool,
}

/// The least memory budget for `query_executes` slots and bodies up to `max_body_bytes`: every
/// slot's working set, and room for the largest body besides them (so a click never waits for
/// memory a schedule holds).
pub fn least_memory_budget(query_executes: usize, max_body_bytes: usize) -> usize {
    query_executes
        .saturating_mul(memory::QUERY_WORKING_SET_BYTES)
        .saturating_add(memory::body_reservation(max_body_bytes))
}

impl CapacitySettings {
    /// Load from the environment ([`CapacitySettings::check`] checks the memory formula once the
    /// functions served are known).
    pub fn load(v: &Vars) -> Result<CapacitySettings, SettingsError> {
        let timeout = v.num("HUB_EXECUTE_TIMEOUT_SECS", DEFAULT_EXECUTE_TIMEOUT_SECS)?;
        if Duration::from_secs(timeout) < budget::MIN_TIMEOUT {
            return Err(SettingsError::Invalid {
                name: "HUB_EXECUTE_TIMEOUT_SECS",
                reason: format!(
                    "{timeout} s leaves no time to work; set the request timeout of the platform \
                     in front of the hub (Cloud Run's execute timeout), at least {} s",
                    budget::MIN_TIMEOUT.as_secs()
                ),
            });
        }
        let query_executes: usize = v.num("HUB_QUERY_EXECUTES", DEFAULT_QUERY_EXECUTES)?;
        if query_executes == 0 {
            return Err(SettingsError::Invalid {
                name: "HUB_QUERY_EXECUTES",
                reason: "at least 1 query execute must be able to run".into(),
            });
        }
        Ok(CapacitySettings {
            execute: ExecuteBudget::new(Duration::from_secs(timeout)),
            query_executes,
            memory_budget_bytes: v.num("HUB_MEMORY_BUDGET_BYTES", DEFAULT_MEMORY_BUDGET_BYTES)?,
            serves_executes: true,
        })
    }

    /// The query slots this process sets aside memory for: none unless it runs executes.
    pub fn slots_in_budget(&self) -> usize {
        if self.serves_executes {
            self.query_executes
        } else {
            0
        }
    }

    /// Check that the memory budget holds the query slots' working sets (when this process runs
    /// executes) and the largest body besides them.
    pub fn check(&self, max_body_bytes: usize) -> Result<(), SettingsError> {
        let slots = self.slots_in_budget();
        let least = least_memory_budget(slots, max_body_bytes);
        if self.memory_budget_bytes >= least {
            return Ok(());
        }
        Err(SettingsError::Invalid {
            name: "HUB_MEMORY_BUDGET_BYTES",
            reason: format!(
                "{} bytes is less than {least}: HUB_QUERY_EXECUTES ({slots}, for a process that \
                 runs executes) × {} (a query execute's working set) + 2 × HUB_MAX_BODY_BYTES \
                 ({max_body_bytes}) + {} (the largest click besides them); raise it with the \
                 instance's memory, or lower HUB_QUERY_EXECUTES",
                self.memory_budget_bytes,
                memory::QUERY_WORKING_SET_BYTES,
                memory::REQUEST_OVERHEAD_BYTES
            ),
        })
    }
}

/// The capacity of a running instance, shared by every request.
#[derive(Debug)]
pub struct Capacity {
    /// The execute budget.
    pub execute: ExecuteBudget,
    /// Query-execute slots.
    pub slots: QuerySlots,
    /// What request bodies share: the budget less the slots' working sets.
    pub memory: MemoryBudget,
}

impl Capacity {
    /// The capacity the settings describe.
    pub fn new(s: &CapacitySettings) -> Capacity {
        let slots_hold = s
            .slots_in_budget()
            .saturating_mul(memory::QUERY_WORKING_SET_BYTES);
        Capacity {
            execute: s.execute,
            slots: QuerySlots::new(s.query_executes),
            memory: MemoryBudget::new(s.memory_budget_bytes.saturating_sub(slots_hold)),
        }
    }

    /// What a query execute turned away answers.
    pub fn busy_message(&self, why: NoSlot) -> String {
        let n = self.slots.size();
        let wait = match why {
            NoSlot::QueueFull => format!("{n} more are already waiting"),
            NoSlot::WaitedTooLong => format!(
                "none freed up within {} s",
                self.execute.admission_wait().as_secs()
            ),
        };
        format!(
            "The action hub is busy: {n} query {} already running on this instance \
             (HUB_QUERY_EXECUTES) and {wait}; nothing was done. Run the action again in a few \
             minutes (or spread the schedules that run at the same time).",
            if n == 1 { "execute is" } else { "executes are" }
        )
    }
}

/// What a request that found no memory answers.
pub const NO_MEMORY: &str = "The action hub is busy: the memory of this instance \
     (HUB_MEMORY_BUDGET_BYTES) is held by requests in flight and none freed up in time; nothing \
     was done. Run the action again in a minute.";

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const MAX_BODY: usize = 32 * 1024 * 1024;

    fn load(pairs: &[(&str, &str)]) -> Result<CapacitySettings, SettingsError> {
        let vars: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        CapacitySettings::load(&Vars(&vars))
    }

    #[test]
    fn the_defaults_fit_a_512_mib_instance_and_leave_room_for_clicks() {
        let s = load(&[]).unwrap();
        s.check(MAX_BODY).unwrap();
        assert_eq!(s.execute.timeout(), Duration::from_secs(900));
        assert_eq!(s.query_executes, 4);
        let c = Capacity::new(&s);
        // 384 MiB less 4 × 64 MiB of working sets: 128 MiB for bodies, two 32 MiB pushes at once.
        assert_eq!(c.memory.available(), 128 * 1024 * 1024);
    }

    #[test]
    fn a_budget_too_small_for_the_slots_refuses_the_start_with_the_formula() {
        let mut s = load(&[("HUB_QUERY_EXECUTES", "5")]).unwrap();
        let err = s.check(MAX_BODY).unwrap_err().to_string();
        assert_eq!(
            err,
            "HUB_MEMORY_BUDGET_BYTES is invalid: 402653184 bytes is less than 402718720: \
             HUB_QUERY_EXECUTES (5, for a process that runs executes) × 67108864 (a query \
             execute's working set) + 2 × HUB_MAX_BODY_BYTES (33554432) + 65536 (the largest \
             click besides them); raise it with the instance's memory, or lower \
             HUB_QUERY_EXECUTES"
        );
        // A process that runs no executes (list, form, OAuth) sets nothing aside for slots.
        s.serves_executes = false;
        s.memory_budget_bytes = 2 * MAX_BODY + 65536;
        s.check(MAX_BODY).unwrap();
        assert_eq!(Capacity::new(&s).memory.available(), 2 * MAX_BODY + 65536);
        assert!(load(&[("HUB_QUERY_EXECUTES", "0")]).is_err());
        let err = load(&[("HUB_EXECUTE_TIMEOUT_SECS", "3")]).unwrap_err();
        assert!(err.to_string().contains("at least 4 s"), "{err}");
    }
}
