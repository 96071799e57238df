//! The runner scale set half of the fake Actions service (`scalesets.md`): the admin
//! connection's `{svc}` under `/_fake/actions/tenant/{n}/`, the message queue under
//! `/_fake/actions/queue/{key}/message`, job routing to scale sets, JIT runners, fault
//! knobs and observability.
//!
//! Layout: [`model`] the public types (`crate::model::scalesets`, below everything); the
//! state inside the world (routing, messages, statistics, time-driven changes, the tokens the
//! service signs) is `crate::world`'s `scalesets`; here `service`, `handlers`, `queue` are
//! the HTTP side; `wire` the JSON; `api` the [`crate::FakeState`] methods; `control` the
//! `/_fake/` routes. The token exchange that opens the admin connection and the fault knobs'
//! failures are `crate::actions`' (`exchange`, `injected_failure`).

mod api;
mod control;
mod handlers;
mod queue;
mod service;
mod wire;

pub use crate::model::scalesets as model;
pub(crate) use control::routes as control_routes;
pub(crate) use service::routes;
