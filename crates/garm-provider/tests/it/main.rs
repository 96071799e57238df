//! Integration tests: `ExternalProvider` running real shell-script providers written at test time.

mod commands;
mod environment;
mod support;
mod timeouts;
