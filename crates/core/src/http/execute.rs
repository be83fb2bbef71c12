//! One execute once its request is checked: it takes a query-execute slot when it reads a query
//! result (`crate::capacity::slots`), then runs its action with its own wind-up signal.

use std::sync::Arc;

use crate::actions::run::{ErrorKind, RunTally};
use crate::actions::{Action, WindUp};
use crate::api::{ActionRequest, ExecuteResponse};
use crate::capacity::Reservation;
use crate::error::HubError;
use crate::lifecycle::{Cut, ExecuteWindUp, TOO_LATE};
use crate::meta::RequestMeta;

use crate::hub::Hub;

/// One execute, checked and ready to run.
pub(super) struct Execute {
    /// The action run.
    pub action: Arc<dyn Action>,
    /// What Looker's headers said.
    pub meta: RequestMeta,
    /// The request, parsed.
    pub request: ActionRequest,
    /// Whether it reads a query result (it takes a query-execute slot).
    pub query: bool,
    /// When it arrived (its time limit counts from then).
    pub arrived: tokio::time::Instant,
    /// The memory its request holds.
    pub memory: Reservation,
    /// What it does, counted by its engines.
    pub tally: Arc<RunTally>,
}

impl Execute {
    /// Take a query-execute slot if needed (waiting in line, within the execute's admission wait
    /// or until the shutdown asks to wind up), then run the action.
    pub async fn run(
        self,
        hub: Arc<Hub>,
        windup: Arc<ExecuteWindUp>,
    ) -> Result<ExecuteResponse, HubError> {
        let Execute {
            action,
            meta,
            request,
            query,
            arrived,
            memory: _memory,
            tally,
        } = self;
        let _slot = if query {
            let until = arrived + hub.capacity.execute.admission_wait();
            tokio::select! {
                admitted = hub.capacity.slots.admit(until) => match admitted {
                    Ok(slot) => Some(slot),
                    Err(why) => return Err(HubError::Busy(hub.capacity.busy_message(why))),
                },
                _ = windup.hurry().cancelled() => {
                    // Nothing was started: turned away, not cut short.
                    tally.refuse(match windup.cut() {
                        Some(Cut::Deadline) => ErrorKind::Deadline,
                        _ => ErrorKind::Shutdown,
                    });
                    return Ok(ExecuteResponse::failure(TOO_LATE));
                }
            }
        } else {
            None
        };
        let ctx = hub.action_context_with(&meta, windup.as_ref(), &tally);
        action.execute(&ctx, request).await.map_err(HubError::from)
    }
}
