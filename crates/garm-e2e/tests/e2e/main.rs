//! User stories, each against the real `garm`, a fake GitHub, the real test provider
//! process and the simulated runner, on loopback.

mod attestation;
mod azure;
mod cli;
mod docker;
mod docs;
mod forge_paths;
mod intake;
mod job_loop;
mod metrics;
mod reliability;
mod replicas;
mod scalesets;
mod streams;
mod takeover;
mod webui;
mod webui_forms;
