//! Integration tests: the built `garm-provider-docker` binary, run with garm's environment and stdin
//! against the machine's real Docker engine, with containers of the test image on the host network.

mod extra_specs;
mod fetch;
mod isolation;
mod lifecycle;
mod support;
