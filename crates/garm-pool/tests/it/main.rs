//! The pool manager's lifecycle steps and reconcilers against a real SQLite store, an
//! in-memory forge and the in-memory provider.

mod batch;
mod crash;
mod delete;
mod missed;
mod proxy;
mod race;
mod reads;
mod scale_down;
mod support;
