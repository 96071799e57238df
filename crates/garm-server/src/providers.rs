//! Builds the configured external providers, each reporting to the metrics.

use crate::config::Config;
use garm_pool::Metrics;
use garm_provider::{ExternalProvider, ExternalProviderConfig, InterfaceVersion, Provider};
use std::collections::HashMap;
use std::sync::Arc;

pub fn from_config(config: &Config, controller_id: &str, metrics: &Arc<Metrics>) -> HashMap<String, Arc<dyn Provider>> {
    let mut out: HashMap<String, Arc<dyn Provider>> = HashMap::new();
    for p in &config.providers {
        let interface_version = if p.interface_version == "v0.1.1" {
            InterfaceVersion::V0_1_1
        } else {
            InterfaceVersion::V0_1_0
        };
        let name = p.name.clone();
        let m = metrics.clone();
        let provider = ExternalProvider::new(
            ExternalProviderConfig {
                name: p.name.clone(),
                executable: p.executable.clone(),
                config_file: p.config_file.clone(),
                interface_version,
                environment_variables: p.environment_variables.clone(),
                exec_timeout: p.exec_timeout,
                disable_jit_config: p.disable_jit_config,
            },
            controller_id.to_string(),
        )
        .with_observer(Arc::new(move |operation: &str, ok: bool| {
            m.provider_call(operation, &name, ok)
        }));
        out.insert(p.name.clone(), Arc::new(provider));
    }
    out
}
