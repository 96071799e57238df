//! Integration tests: the real `garm-provider-azure` binary, run the way garm runs it, against
//! the fake ARM started in-process.

mod create;
mod credentials;
mod lifecycle;
mod protocol;
mod resilience;
mod support;
