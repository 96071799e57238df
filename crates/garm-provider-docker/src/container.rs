//! Instances as containers: the labels we own, the create request, and Docker states as garm statuses.

use std::collections::HashMap;

use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerState, ContainerStateStatusEnum, HostConfig,
    Mount as DockerMount, MountType, RestartPolicy, RestartPolicyNameEnum,
};
use garm_provider_protocol::{Address, BootstrapInstance, ProviderInstance, ProviderStatus};

use crate::bootstrap::{COMMAND, ENTRYPOINT};
use crate::config::{Config, Flavor};
use crate::extra_specs::ExtraSpecs;
use crate::reserved::{
    LABEL_CONTROLLER_ID, LABEL_FLAVOR, LABEL_INSTANCE_NAME, LABEL_OS_ARCH, LABEL_OS_TYPE, LABEL_POOL_ID,
};

/// Who asks for a container, and with what.
pub struct Request<'a> {
    pub controller_id: &'a str,
    pub pool_id: &'a str,
    pub image: &'a str,
    pub flavor: &'a Flavor,
    pub bootstrap: &'a BootstrapInstance,
    pub specs: &'a ExtraSpecs,
}

/// The body of `POST /containers/create` for one instance.
pub fn create_body(config: &Config, request: &Request<'_>) -> ContainerCreateBody {
    let bootstrap = request.bootstrap;
    let mut labels: HashMap<String, String> = config
        .labels
        .iter()
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    for (name, value) in [
        (LABEL_CONTROLLER_ID, request.controller_id),
        (LABEL_POOL_ID, request.pool_id),
        (LABEL_INSTANCE_NAME, bootstrap.name.as_str()),
        (LABEL_OS_TYPE, bootstrap.os_type.as_str()),
        (LABEL_OS_ARCH, bootstrap.arch.as_str()),
        (LABEL_FLAVOR, bootstrap.flavor.as_str()),
    ] {
        labels.insert(name.to_owned(), value.to_owned());
    }
    let env: Vec<String> = request
        .specs
        .env
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    let mounts: Vec<DockerMount> = request
        .specs
        .mounts
        .iter()
        .map(|mount| DockerMount {
            source: Some(mount.source.clone()),
            target: Some(mount.target.clone()),
            typ: Some(MountType::BIND),
            read_only: Some(mount.read_only),
            ..DockerMount::default()
        })
        .collect();
    let host_config = HostConfig {
        network_mode: Some(config.network_mode.clone()),
        nano_cpus: request.flavor.nano_cpus(),
        memory: request.flavor.memory_bytes(),
        privileged: Some(request.specs.privileged),
        init: Some(config.init),
        mounts: (!mounts.is_empty()).then_some(mounts),
        restart_policy: Some(RestartPolicy {
            name: Some(RestartPolicyNameEnum::NO),
            maximum_retry_count: None,
        }),
        auto_remove: Some(false),
        ..HostConfig::default()
    };
    ContainerCreateBody {
        image: Some(request.image.to_owned()),
        user: config.user.clone(),
        entrypoint: Some(ENTRYPOINT.iter().map(|arg| arg.to_string()).collect()),
        cmd: Some(COMMAND.iter().map(|arg| arg.to_string()).collect()),
        env: (!env.is_empty()).then_some(env),
        labels: Some(labels),
        tty: Some(false),
        open_stdin: Some(false),
        attach_stdin: Some(false),
        host_config: Some(host_config),
        ..ContainerCreateBody::default()
    }
}

/// The labels of an inspected container.
fn labels(container: &ContainerInspectResponse) -> Option<&HashMap<String, String>> {
    container.config.as_ref()?.labels.as_ref()
}

/// Whether the container carries `controller_id`'s label; the provider touches no other.
pub fn is_owned_by(container: &ContainerInspectResponse, controller_id: &str) -> bool {
    labels(container)
        .and_then(|labels| labels.get(LABEL_CONTROLLER_ID))
        .is_some_and(|owner| owner == controller_id)
}

/// The instance garm sees for an inspected container.
///
/// `provider_id` and `name` are both the container name (without Docker's leading `/`).
pub fn instance(container: &ContainerInspectResponse) -> ProviderInstance {
    let label = |name: &str| {
        labels(container)
            .and_then(|labels| labels.get(name))
            .cloned()
            .unwrap_or_default()
    };
    let name = container
        .name
        .as_deref()
        .map(|name| name.trim_start_matches('/').to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| label(LABEL_INSTANCE_NAME));
    let (status, fault) = status(container.state.as_ref());
    let addresses = container
        .network_settings
        .as_ref()
        .and_then(|settings| settings.networks.as_ref())
        .map(|networks| {
            let mut ips: Vec<&str> = networks
                .values()
                .flat_map(|network| [&network.ip_address, &network.global_ipv6_address])
                .filter_map(|ip| ip.as_deref())
                .filter(|ip| !ip.is_empty())
                .collect();
            ips.sort_unstable();
            ips.dedup();
            ips.into_iter()
                .map(|ip| Address {
                    address: ip.to_owned(),
                    kind: Address::PRIVATE.to_owned(),
                })
                .collect()
        })
        .unwrap_or_default();
    ProviderInstance {
        provider_id: name.clone(),
        name,
        os_type: label(LABEL_OS_TYPE),
        os_name: String::new(),
        os_version: String::new(),
        os_arch: label(LABEL_OS_ARCH),
        addresses,
        status,
        provider_fault: fault.into_bytes(),
        // A container is not a VM: nothing an attestation report could name.
        vm_id: String::new(),
    }
}

/// Exit codes of a container that ended normally or was stopped: `docker stop` sends SIGTERM
/// (the entry point then exits 143) and SIGKILL after its timeout (137).
const STOPPED_EXIT_CODES: [i64; 3] = [0, 137, 143];

/// garm's status for a Docker state, and an error detail when there is one.
///
/// | Docker | garm |
/// |---|---|
/// | `running`, `restarting` | `running` |
/// | `created`, `paused`, `stopping`, `exited` with code 0, or stopped by a signal (137, 143) | `stopped` |
/// | `exited` with another code or out of memory, `dead`, or an engine error | `error` |
/// | `removing`, anything else | `unknown` |
pub fn status(state: Option<&ContainerState>) -> (ProviderStatus, String) {
    let Some(state) = state else {
        return (ProviderStatus::Unknown, String::new());
    };
    let engine_error = state.error.clone().unwrap_or_default();
    let exit_code = state.exit_code.unwrap_or_default();
    let oom = state.oom_killed.unwrap_or_default();
    match state.status {
        Some(ContainerStateStatusEnum::RUNNING | ContainerStateStatusEnum::RESTARTING) => {
            (ProviderStatus::Running, String::new())
        }
        Some(ContainerStateStatusEnum::EXITED) if !STOPPED_EXIT_CODES.contains(&exit_code) || oom => {
            let mut fault = format!("the container exited with code {exit_code}");
            if oom {
                fault.push_str(" (killed for running out of memory)");
            }
            if !engine_error.is_empty() {
                fault = format!("{fault}: {engine_error}");
            }
            (ProviderStatus::Error, fault)
        }
        Some(ContainerStateStatusEnum::DEAD) => (ProviderStatus::Error, engine_error),
        Some(_) if !engine_error.is_empty() => (ProviderStatus::Error, engine_error),
        Some(
            ContainerStateStatusEnum::CREATED
            | ContainerStateStatusEnum::PAUSED
            | ContainerStateStatusEnum::STOPPING
            | ContainerStateStatusEnum::EXITED,
        ) => (ProviderStatus::Stopped, String::new()),
        _ => (ProviderStatus::Unknown, String::new()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use bollard::models::{ContainerConfig, EndpointSettings, NetworkSettings};

    use super::*;
    use crate::extra_specs::Mount;

    fn config() -> Config {
        Config {
            socket: "/var/run/docker.sock".into(),
            network_mode: "host".into(),
            default_image: None,
            user: Some("runner".into()),
            init: true,
            stop_timeout_seconds: 5,
            api_timeout_seconds: 120,
            labels: BTreeMap::from([("com.example.team".to_owned(), "ci".to_owned())]),
            flavors: BTreeMap::new(),
        }
    }

    fn state(status: ContainerStateStatusEnum, exit_code: i64) -> ContainerState {
        ContainerState {
            status: Some(status),
            exit_code: Some(exit_code),
            ..ContainerState::default()
        }
    }

    #[test]
    fn the_create_body_carries_labels_limits_and_specs() {
        let bootstrap = BootstrapInstance {
            name: "garm-abc".into(),
            os_type: "linux".into(),
            arch: "amd64".into(),
            flavor: "small".into(),
            ..BootstrapInstance::default()
        };
        let specs = ExtraSpecs {
            mounts: vec![Mount {
                source: "/srv/cache".into(),
                target: "/cache".into(),
                read_only: true,
            }],
            env: BTreeMap::from([("A".to_owned(), "b=c".to_owned())]),
            ..ExtraSpecs::default()
        };
        let flavor = Flavor {
            cpus: Some(0.5),
            memory_mb: Some(512),
        };
        let body = create_body(
            &config(),
            &Request {
                controller_id: "ctrl",
                pool_id: "pool",
                image: "garm-rs/runner-test:latest",
                flavor: &flavor,
                bootstrap: &bootstrap,
                specs: &specs,
            },
        );
        let labels = body.labels.as_ref().unwrap();
        assert_eq!(labels[LABEL_CONTROLLER_ID], "ctrl");
        assert_eq!(labels[LABEL_POOL_ID], "pool");
        assert_eq!(labels[LABEL_INSTANCE_NAME], "garm-abc");
        assert_eq!(labels[LABEL_OS_TYPE], "linux");
        assert_eq!(labels[LABEL_OS_ARCH], "amd64");
        assert_eq!(labels["com.example.team"], "ci");
        assert_eq!(body.image.as_deref(), Some("garm-rs/runner-test:latest"));
        assert_eq!(body.user.as_deref(), Some("runner"));
        assert_eq!(body.env, Some(vec!["A=b=c".to_owned()]));
        assert_eq!(
            body.entrypoint,
            Some(vec!["/bin/bash".to_owned()]),
            "bash runs the bootstrap whatever the image's entrypoint"
        );
        let host = body.host_config.unwrap();
        assert_eq!(host.network_mode.as_deref(), Some("host"));
        assert_eq!(host.nano_cpus, Some(500_000_000));
        assert_eq!(host.memory, Some(512 * 1024 * 1024));
        assert_eq!(host.privileged, Some(false));
        assert_eq!(host.init, Some(true));
        let mount = &host.mounts.unwrap()[0];
        assert_eq!(mount.typ, Some(MountType::BIND));
        assert_eq!(mount.read_only, Some(true));
    }

    #[test]
    fn docker_states_map_to_the_four_garm_statuses() {
        use ContainerStateStatusEnum as S;
        let cases = [
            (S::RUNNING, 0, ProviderStatus::Running),
            (S::RESTARTING, 0, ProviderStatus::Running),
            (S::CREATED, 0, ProviderStatus::Stopped),
            (S::PAUSED, 0, ProviderStatus::Stopped),
            (S::EXITED, 0, ProviderStatus::Stopped),
            (S::EXITED, 1, ProviderStatus::Error),
            (S::EXITED, 143, ProviderStatus::Stopped),
            (S::EXITED, 137, ProviderStatus::Stopped),
            (S::DEAD, 0, ProviderStatus::Error),
            (S::REMOVING, 0, ProviderStatus::Unknown),
            (S::EMPTY, 0, ProviderStatus::Unknown),
        ];
        for (docker, exit_code, garm) in cases {
            let (status, _) = status(Some(&state(docker, exit_code)));
            assert_eq!(status, garm, "{docker} exit {exit_code}");
        }
        assert_eq!(status(None).0, ProviderStatus::Unknown);
        let (status, fault) = status(Some(&state(S::EXITED, 2)));
        assert_eq!(status, ProviderStatus::Error);
        assert_eq!(fault, "the container exited with code 2");
    }

    #[test]
    fn an_inspected_container_becomes_a_valid_instance() {
        let container = ContainerInspectResponse {
            name: Some("/garm-abc".into()),
            config: Some(ContainerConfig {
                labels: Some(HashMap::from([
                    (LABEL_CONTROLLER_ID.to_owned(), "ctrl".to_owned()),
                    (LABEL_OS_TYPE.to_owned(), "linux".to_owned()),
                    (LABEL_OS_ARCH.to_owned(), "amd64".to_owned()),
                ])),
                ..ContainerConfig::default()
            }),
            state: Some(state(ContainerStateStatusEnum::RUNNING, 0)),
            network_settings: Some(NetworkSettings {
                networks: Some(HashMap::from([(
                    "bridge".to_owned(),
                    EndpointSettings {
                        ip_address: Some("172.17.0.2".into()),
                        global_ipv6_address: Some(String::new()),
                        ..EndpointSettings::default()
                    },
                )])),
                ..NetworkSettings::default()
            }),
            ..ContainerInspectResponse::default()
        };
        let instance = instance(&container);
        assert_eq!(instance.validate(), Ok(()));
        assert_eq!(instance.provider_id, "garm-abc");
        assert_eq!(instance.name, "garm-abc");
        assert_eq!(instance.os_type, "linux");
        assert_eq!(instance.os_arch, "amd64");
        assert_eq!(instance.addresses.len(), 1);
        assert_eq!(instance.addresses[0].address, "172.17.0.2");
        assert!(is_owned_by(&container, "ctrl"));
        assert!(!is_owned_by(&container, "other"));
        assert!(!is_owned_by(&ContainerInspectResponse::default(), "ctrl"));
    }
}
