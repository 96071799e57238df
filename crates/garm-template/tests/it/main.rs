//! Integration tests: the embedded install scripts render, pass `bash -n`, and behave
//! against a fake garm metadata/callback server.

mod fake_garm;
mod render;
mod sandbox;
mod support;
