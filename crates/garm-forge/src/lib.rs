//! Everything garm-rs knows about forges on the wire.
//!
//! `webhook` turns the headers and raw body of a webhook delivery into a typed
//! [`webhook::Event`] and checks its HMAC signature; it is the only code that
//! knows GitHub's (and Gitea's) webhook header names and payload shapes.
//! `github` is an async REST client for one GitHub endpoint (github.com, GHE.com
//! or GitHub Enterprise Server) and one set of credentials (PAT or GitHub App):
//! runners, registration tokens, JIT configurations, runner downloads and
//! groups, repository and organization webhooks, workflow jobs and rate limits.
//!
//! `actions` is the client of GitHub's Actions service behind runner scale sets (admin
//! connection, scale sets, message sessions and queue, job acquisition, JIT runners).
//!
//! This crate does not decide anything: it does not look up entities, match
//! labels, store jobs or start runners, and it never logs secrets (tokens,
//! keys and JIT blobs are wrapped in [`Secret`]). It does not retry failed
//! requests either; it classifies errors ([`ForgeError::is_retryable`]) and
//! refuses to send while GitHub's rate limit says to wait.

pub mod actions;
mod error;
pub mod github;
pub mod webhook;

pub use error::ForgeError;
pub use garm_base::Secret;
