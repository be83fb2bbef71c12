//! Graceful shutdown: what the hub does between SIGTERM and its exit; and each execute's time
//! limit (`crate::capacity::budget`), which winds an execute up the same way
//! ([`Lifecycle::spawn_execute`]).
//!
//! Cloud Run sends SIGTERM and kills the instance a grace period later (10 s). An execute may be
//! streaming a large result to a data plane at that moment, and Looker may already have hung up
//! (the execute then runs on, detached): stopping the HTTP server alone would drop it half-way.
//! So every request and every execute is tracked, and the shutdown follows a schedule within the
//! grace period `G` (`HUB_SHUTDOWN_GRACE_SECS`):
//!
//! 1. at once: no new connections are accepted; everything in flight goes on, and an execute that
//!    still arrives on a kept-alive connection is run like any other (a cell execute takes
//!    milliseconds; no source says Looker retries an execute, so refusing it would lose the click);
//! 2. at [`hurry_at`] (30 % of `G`, 1 to 5 s, before step 3): actions that can wind up early —
//!    stop reading rows, deliver what was read — are told to, and report exactly how far they got;
//!    a query execute arriving from then on (or still waiting for a slot) is not started (it
//!    could not read its result in time) and is answered `success:false` with [`TOO_LATE`];
//! 3. at [`abandon_at`] (`G` − 1.1 s): an execute still running is answered `success:false`
//!    ("stopped before it finished") so Looker hears the truth instead of a cut connection;
//! 4. the HTTP server then stops gracefully (the final answers are flushed) and the process exits
//!    within `G`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::task_tracker::TaskTrackerToken;
use tokio_util::task::TaskTracker;

use crate::api::ExecuteResponse;
use crate::capacity::ExecuteBudget;
use crate::error::HubError;

/// The shutdown state shared by every request.
#[derive(Debug, Default)]
pub struct Lifecycle {
    /// Requests being handled and executes running (detached ones too).
    in_flight: TaskTracker,
    /// Set at SIGTERM.
    stopping: CancellationToken,
    /// Actions should wind up now and report their progress.
    hurry: CancellationToken,
    /// Executes still running are answered as interrupted.
    abandon: CancellationToken,
}

/// When executes still running are answered as interrupted, after the stop signal: early enough
/// that the answer is flushed and the server stopped (it checks once a second) within the grace
/// period.
pub fn abandon_at(grace: Duration) -> Duration {
    grace.saturating_sub(Duration::from_millis(1100))
}

/// When the actions are asked to wind up, after the stop signal: 30 % of the grace period (at
/// least 1 s, at most 5 s) before [`abandon_at`], time to deliver what was read and answer.
pub fn hurry_at(grace: Duration) -> Duration {
    let wind_up = grace
        .mul_f64(0.3)
        .clamp(Duration::from_secs(1), Duration::from_secs(5));
    abandon_at(grace).saturating_sub(wind_up)
}

/// What an execute stopped by the shutdown answers.
pub const INTERRUPTED: &str =
    "The action hub was stopped (the instance shut down) before this action finished. \
     Whatever it had already done is kept; run the action again to finish it.";

/// What a query execute arriving too late in the shutdown answers (nothing was started).
pub const TOO_LATE: &str =
    "The action hub is restarting (a deployment or a scale-down) and could not take this query \
     result in time; nothing was done. Please run the action again.";

impl crate::actions::WindUp for Lifecycle {
    fn hurry(&self) -> &CancellationToken {
        &self.hurry
    }

    fn too_late_for_long_work(&self) -> bool {
        self.hurry.is_cancelled()
    }
}

/// What cut an execute short: it was asked to wind up, or answered without waiting for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// The instance's shutdown.
    Shutdown,
    /// The execute's own time limit.
    Deadline,
}

/// The wind-up signal of one execute: its time limit or the shutdown, whichever comes first.
#[derive(Debug)]
pub struct ExecuteWindUp {
    /// Cancelled at the budget's wind-up time, or with the shutdown's hurry.
    hurry: CancellationToken,
    /// The shutdown's hurry (tells the two causes apart).
    shutdown: CancellationToken,
    budget: ExecuteBudget,
}

impl crate::actions::WindUp for ExecuteWindUp {
    fn hurry(&self) -> &CancellationToken {
        &self.hurry
    }

    fn too_late_for_long_work(&self) -> bool {
        self.hurry.is_cancelled()
    }

    fn why(&self) -> String {
        if self.shutdown.is_cancelled() {
            "the action hub was shut down".into()
        } else {
            self.budget.wind_up_reason()
        }
    }
}

impl ExecuteWindUp {
    /// What asked this execute to wind up, if anything did.
    pub fn cut(&self) -> Option<Cut> {
        if self.shutdown.is_cancelled() {
            Some(Cut::Shutdown)
        } else if self.hurry.is_cancelled() {
            Some(Cut::Deadline)
        } else {
            None
        }
    }
}

impl Lifecycle {
    /// Whether long work (reading a query result) can no longer start: the shutdown has asked
    /// running actions to wind up.
    pub fn too_late_for_long_work(&self) -> bool {
        self.hurry.is_cancelled()
    }

    /// Whether the hub is shutting down.
    pub fn is_stopping(&self) -> bool {
        self.stopping.is_cancelled()
    }

    /// Cancelled when long-running actions should stop taking more work and report how far they
    /// got (rows read so far delivered, the rest reported as not sent).
    pub fn hurry(&self) -> &CancellationToken {
        &self.hurry
    }

    /// Count a request as in flight until the token is dropped.
    pub fn track_request(&self) -> TaskTrackerToken {
        self.in_flight.token()
    }

    /// Run an execute on its own task (it goes on if the caller hangs up), tracked until it ends,
    /// within its time limit: `work` gets the execute's own [`ExecuteWindUp`], asked to wind up
    /// at the budget's wind-up time or by the shutdown, whichever comes first. Still running at the
    /// budget's answer time it is dropped and answers [`ExecuteBudget::out_of_time`]; if the
    /// shutdown schedule reaches [`abandon_at`] first, it answers [`INTERRUPTED`]. A panic of
    /// `work` answers an internal error. Whatever the answer, `finish` gets it on the execute's
    /// task, with what cut the execute short, and makes the final answer: it runs when the work
    /// is done (or given up), also when the caller has hung up.
    pub fn spawn_execute<W, F, D>(
        &self,
        budget: ExecuteBudget,
        arrived: tokio::time::Instant,
        work: W,
        finish: D,
    ) -> tokio::task::JoinHandle<Result<ExecuteResponse, HubError>>
    where
        W: FnOnce(Arc<ExecuteWindUp>) -> F,
        F: Future<Output = Result<ExecuteResponse, HubError>> + Send + 'static,
        D: FnOnce(
                Result<ExecuteResponse, HubError>,
                Option<Cut>,
            ) -> Result<ExecuteResponse, HubError>
            + Send
            + 'static,
    {
        let abandon = self.abandon.clone();
        let windup = Arc::new(ExecuteWindUp {
            hurry: self.hurry.child_token(),
            shutdown: self.hurry.clone(),
            budget,
        });
        let work = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(work(
            windup.clone(),
        )));
        self.in_flight.spawn(async move {
            let (answer, cut) = run_within(work, windup, abandon, budget, arrived).await;
            finish(answer, cut)
        })
    }

    /// The shutdown schedule (steps 1–3 above): returns once nothing is in flight any more, or
    /// at the grace period's end at the latest.
    pub async fn drain(&self, grace: Duration) {
        let start = tokio::time::Instant::now();
        self.stopping.cancel();
        self.in_flight.close();
        let count = self.in_flight.len();
        if count > 0 {
            tracing::info!(
                in_flight = count,
                grace_secs = grace.as_secs_f64(),
                "shutting down: waiting for requests and executes in flight"
            );
        }
        if tokio::time::timeout_at(start + hurry_at(grace), self.in_flight.wait())
            .await
            .is_ok()
        {
            return;
        }
        tracing::warn!(
            in_flight = self.in_flight.len(),
            "shutting down: asking running actions to wind up"
        );
        self.hurry.cancel();
        if tokio::time::timeout_at(start + abandon_at(grace), self.in_flight.wait())
            .await
            .is_ok()
        {
            return;
        }
        tracing::warn!(
            in_flight = self.in_flight.len(),
            "shutting down: answering executes still running as interrupted"
        );
        self.abandon.cancel();
        // The interrupted executes answer at once; requests that are not executes get what is
        // left of the grace period.
        let _ = tokio::time::timeout_at(start + grace, self.in_flight.wait()).await;
    }
}

/// Run an execute's work within its time limit and the shutdown schedule: its answer (or the one
/// given in its place) and what cut it short.
async fn run_within<F>(
    work: F,
    windup: Arc<ExecuteWindUp>,
    abandon: CancellationToken,
    budget: ExecuteBudget,
    arrived: tokio::time::Instant,
) -> (Result<ExecuteResponse, HubError>, Option<Cut>)
where
    F: Future<Output = std::thread::Result<Result<ExecuteResponse, HubError>>>,
{
    tokio::pin!(work);
    let wind_up = tokio::time::sleep_until(arrived + budget.wind_up_at());
    tokio::pin!(wind_up);
    let answer_by = tokio::time::sleep_until(arrived + budget.answer_by());
    tokio::pin!(answer_by);
    loop {
        tokio::select! {
            biased;
            res = &mut work => {
                let answer = res.unwrap_or_else(|_| {
                    tracing::error!("the action panicked");
                    Err(HubError::Internal("the action crashed".into()))
                });
                return (answer, windup.cut());
            }
            _ = abandon.cancelled() => {
                tracing::warn!("execute interrupted by the shutdown");
                return (Ok(ExecuteResponse::failure(INTERRUPTED)), Some(Cut::Shutdown));
            }
            _ = &mut answer_by => {
                tracing::warn!(limit_secs = budget.answer_by().as_secs(), "execute answered at its time limit");
                return (Ok(ExecuteResponse::failure(budget.out_of_time())), Some(Cut::Deadline));
            }
            _ = &mut wind_up, if !windup.hurry.is_cancelled() => {
                tracing::warn!(at_secs = budget.wind_up_at().as_secs_f64(), "execute asked to wind up: its time limit is near");
                windup.hurry.cancel();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_fits_in_the_grace_period() {
        for secs in [1u64, 2, 5, 10, 30, 600] {
            let g = Duration::from_secs(secs);
            assert!(hurry_at(g) <= abandon_at(g), "{secs}");
            assert!(abandon_at(g) < g, "{secs}");
        }
        let s = Duration::from_secs;
        assert_eq!(abandon_at(s(10)), Duration::from_millis(8900));
        assert_eq!(hurry_at(s(10)), Duration::from_millis(5900));
        assert_eq!(hurry_at(s(4)), Duration::from_millis(1700));
        assert_eq!(hurry_at(s(600)), Duration::from_millis(593_900));
    }

    fn long_budget() -> ExecuteBudget {
        ExecuteBudget::new(Duration::from_secs(3600))
    }

    fn spawn(
        life: &Lifecycle,
        budget: ExecuteBudget,
        work: impl Future<Output = Result<ExecuteResponse, HubError>> + Send + 'static,
    ) -> tokio::task::JoinHandle<Result<ExecuteResponse, HubError>> {
        life.spawn_execute(budget, tokio::time::Instant::now(), |_| work, |r, _| r)
    }

    #[tokio::test(start_paused = true)]
    async fn executes_finish_or_are_answered_as_interrupted() {
        let life = Lifecycle::default();
        let quick = spawn(&life, long_budget(), async {
            tokio::time::sleep(Duration::from_secs(2)).await;
            Ok(ExecuteResponse::success("done"))
        });
        let winds_up = life.spawn_execute(
            long_budget(),
            tokio::time::Instant::now(),
            |w| async move {
                use crate::actions::WindUp;
                w.hurry().cancelled().await;
                Ok(ExecuteResponse::failure(format!(
                    "{} after 10 of 20 rows",
                    w.why()
                )))
            },
            |r, cut| {
                assert_eq!(cut, Some(Cut::Shutdown));
                r
            },
        );
        let stuck = spawn(&life, long_budget(), std::future::pending());
        let start = tokio::time::Instant::now();
        life.drain(Duration::from_secs(10)).await;
        assert!(start.elapsed() <= Duration::from_secs(10));
        assert!(life.is_stopping());
        assert_eq!(quick.await.unwrap().unwrap().message(), Some("done"));
        assert_eq!(
            winds_up.await.unwrap().unwrap().message(),
            Some("the action hub was shut down after 10 of 20 rows")
        );
        let r = stuck.await.unwrap().unwrap();
        assert!(!r.looker.success);
        assert_eq!(r.message(), Some(INTERRUPTED));
    }

    #[tokio::test(start_paused = true)]
    async fn an_execute_winds_up_before_its_time_limit_and_is_answered_at_it() {
        use crate::actions::WindUp;
        let life = Lifecycle::default();
        let budget = ExecuteBudget::new(Duration::from_secs(60));
        let arrived = tokio::time::Instant::now();
        let winds_up = life.spawn_execute(
            budget,
            arrived,
            |w| async move {
                w.hurry().cancelled().await;
                let at = arrived.elapsed();
                Ok(ExecuteResponse::failure(format!("{} at {at:?}", w.why())))
            },
            |r, cut| {
                assert_eq!(cut, Some(Cut::Deadline));
                r
            },
        );
        let stuck = spawn(&life, budget, std::future::pending());
        assert_eq!(
            winds_up.await.unwrap().unwrap().message(),
            Some(format!("{} at 51.3s", budget.wind_up_reason()).as_str())
        );
        let r = stuck.await.unwrap().unwrap();
        assert_eq!(arrived.elapsed(), budget.answer_by());
        assert!(!r.looker.success);
        assert_eq!(r.message(), Some(budget.out_of_time().as_str()));
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_hub_stops_at_once() {
        let life = Lifecycle::default();
        let start = tokio::time::Instant::now();
        life.drain(Duration::from_secs(10)).await;
        assert_eq!(start.elapsed(), Duration::ZERO);
    }
}
