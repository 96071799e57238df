//! Integration tests: webhook parsing against the fixture payloads, and the GitHub client against an in-test server.

mod github;
mod github_app;
mod rate_limit;
mod support;
mod webhook;
mod webhook_props;
