//! The execute budget: every execute answers before the platform in front of the hub (Cloud Run's
//! request timeout, the gateway's deadline) cuts the connection, so Looker hears the hub's counted
//! answer instead of a 504. One setting, `HUB_EXECUTE_TIMEOUT_SECS`, the platform's timeout; every
//! other time of an execute derives from it here.

use std::time::Duration;

/// When an execute must have answered, stopped reading and given up waiting, counted from its
/// arrival, all derived from the platform's request timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecuteBudget {
    timeout: Duration,
}

/// The shortest platform timeout the hub accepts: below it the margins leave no time to work.
pub const MIN_TIMEOUT: Duration = Duration::from_secs(4);

impl ExecuteBudget {
    /// The budget of executes behind a platform that cuts them after `timeout`.
    pub fn new(timeout: Duration) -> ExecuteBudget {
        ExecuteBudget {
            timeout: timeout.max(MIN_TIMEOUT),
        }
    }

    /// The platform's request timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Kept between the hub's answer and the platform's cut: the answer's way back through the
    /// gateway, and the time the request spent in front of the hub before it arrived. 5 % of the
    /// timeout, at least 1 s, at most 30 s.
    pub fn margin(&self) -> Duration {
        (self.timeout / 20).clamp(Duration::from_secs(1), Duration::from_secs(30))
    }

    /// The execute answers by then, whatever it is doing (the timeout less the margin).
    pub fn answer_by(&self) -> Duration {
        self.timeout - self.margin()
    }

    /// A long execute stops reading its result then and delivers what it read: 10 % of
    /// [`Self::answer_by`] before it, at least 1 s, at most 60 s (room for one write to BigQuery
    /// or one batch to RudderStack, each bounded by 30 s).
    pub fn wind_up_at(&self) -> Duration {
        let lead = (self.answer_by() / 10).clamp(Duration::from_secs(1), Duration::from_secs(60));
        self.answer_by().saturating_sub(lead)
    }

    /// How long a query execute may wait for a slot: half of [`Self::answer_by`], so that one
    /// admitted late still has the other half to read its result.
    pub fn admission_wait(&self) -> Duration {
        self.answer_by() / 2
    }

    /// Why a long execute was asked to stop reading, as the subject of a sentence in its answer
    /// ("… after reading 700 rows of the result").
    pub fn wind_up_reason(&self) -> String {
        format!(
            "the action reached its time limit ({} s: HUB_EXECUTE_TIMEOUT_SECS = {} s, the request \
             timeout of the platform in front of the hub, less {} s to answer)",
            self.answer_by().as_secs(),
            self.timeout.as_secs(),
            self.margin().as_secs()
        )
    }

    /// What an execute still running at [`Self::answer_by`] answers.
    pub fn out_of_time(&self) -> String {
        format!(
            "The action did not finish within its time limit of {} s (HUB_EXECUTE_TIMEOUT_SECS = \
             {} s less {} s to answer), although it was asked to stop reading at {} s. Whatever it \
             had already done is kept; run the action again to finish it.",
            self.answer_by().as_secs(),
            self.timeout.as_secs(),
            self.margin().as_secs(),
            self.wind_up_at().as_secs()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    #[test]
    fn every_time_of_an_execute_derives_from_the_platform_timeout() {
        let b = ExecuteBudget::new(s(900));
        assert_eq!(
            (
                b.margin(),
                b.answer_by(),
                b.wind_up_at(),
                b.admission_wait()
            ),
            (s(30), s(870), s(810), s(435))
        );
        let b = ExecuteBudget::new(s(60));
        assert_eq!(
            (
                b.margin(),
                b.answer_by(),
                b.wind_up_at(),
                b.admission_wait()
            ),
            (
                s(3),
                s(57),
                Duration::from_millis(51_300),
                Duration::from_millis(28_500)
            )
        );
        let b = ExecuteBudget::new(s(3600));
        assert_eq!((b.answer_by(), b.wind_up_at()), (s(3570), s(3510)));
        let b = ExecuteBudget::new(s(6));
        assert_eq!((b.answer_by(), b.wind_up_at()), (s(5), s(4)));
    }

    #[test]
    fn the_order_holds_for_every_timeout() {
        for secs in [0, 1, 4, 5, 10, 59, 60, 61, 300, 900, 3600] {
            let b = ExecuteBudget::new(s(secs));
            assert!(b.admission_wait() < b.wind_up_at(), "{secs}");
            assert!(b.wind_up_at() < b.answer_by(), "{secs}");
            assert!(b.answer_by() < b.timeout(), "{secs}");
        }
    }

    #[test]
    fn the_messages_name_the_setting_and_the_times() {
        let b = ExecuteBudget::new(s(900));
        assert_eq!(
            b.wind_up_reason(),
            "the action reached its time limit (870 s: HUB_EXECUTE_TIMEOUT_SECS = 900 s, the \
             request timeout of the platform in front of the hub, less 30 s to answer)"
        );
        assert!(b.out_of_time().contains("asked to stop reading at 810 s"));
    }
}
