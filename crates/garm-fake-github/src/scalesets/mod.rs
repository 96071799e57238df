//! The runner scale set half of the fake Actions service (`scalesets.md`): the admin
//! connection's `{svc}` under `/_fake/actions/tenant/{n}/`, the message queue under
//! `/_fake/actions/queue/{key}/message`, job routing to scale sets, JIT runners, fault
//! knobs and observability.
//!
//! Layout: [`model`] the public types; `engine` the state inside the world (routing,
//! messages, statistics, time-driven changes); `service`, `handlers`, `queue` the HTTP
//! side; `wire` the JSON and tokens; `api` the [`crate::FakeState`] methods; `control` the
//! `/_fake/` routes.

mod api;
mod control;
mod engine;
mod handlers;
pub mod model;
mod queue;
mod service;
mod wire;

pub(crate) use control::routes as control_routes;
pub(crate) use engine::{AdminToken, Service};
pub(crate) use service::{auth_scheme, injected_failure, routes};
pub(crate) use wire::jwt;
