//! Integration tests: the fake over HTTP, replaying the fixture examples and checking ARM's rules.

mod checks;
mod fixtures;
mod support;
mod tokens;
