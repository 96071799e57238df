//! Integration tests of the fake GitHub and the simulated runner.

mod apps;
mod contract;
mod rest;
mod runner_bin;
mod scaleset_client;
mod scaleset_runners;
mod scalesets;
mod schema;
mod support;
mod switches;
mod webhooks;
