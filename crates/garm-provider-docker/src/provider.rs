//! `DockerProvider`: the protocol's `Provider` implemented with the Docker Engine API.

use std::collections::HashMap;
use std::time::Duration;

use bollard::errors::Error as DockerError;
use bollard::models::ContainerInspectResponse;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
    StopContainerOptionsBuilder, UploadToContainerOptionsBuilder,
};
use bollard::{ClientVersion, Docker};
use garm_provider_protocol::{BootstrapInstance, Context, Provider, ProviderError, ProviderInstance};
use tokio::runtime::Runtime;
use tokio::sync::OnceCell;

use crate::bootstrap::Files;
use crate::config::Config;
use crate::container::{self, Request};
use crate::extra_specs::{ExtraSpecs, SCHEMA};
use crate::reserved::{LABEL_CONTROLLER_ID, LABEL_POOL_ID};

/// The newest Engine API version we ask for; older engines are negotiated down.
const API_VERSION: ClientVersion = ClientVersion {
    major_version: 1,
    minor_version: 47,
};

/// Instances are containers of the engine on `config.socket`, labelled with their controller and pool.
pub struct DockerProvider {
    config: Config,
    runtime: Runtime,
    /// Connected on first use, so commands that need no engine (`GetVersion`, schemas) work without one.
    docker: OnceCell<Docker>,
}

fn failed(message: impl Into<String>) -> impl FnOnce(DockerError) -> ProviderError {
    let message = message.into();
    move |err| ProviderError::caused_by(message, err)
}

fn status_code(err: &DockerError) -> Option<u16> {
    match err {
        DockerError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

fn is_not_found(err: &DockerError) -> bool {
    status_code(err) == Some(404)
}

impl DockerProvider {
    /// A provider for `config`; the engine is contacted when a command first needs it.
    pub fn new(config: Config) -> Result<DockerProvider, ProviderError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|err| ProviderError::caused_by("cannot start the async runtime", err))?;
        Ok(DockerProvider {
            config,
            runtime,
            docker: OnceCell::new(),
        })
    }

    /// The engine client, connected and with an agreed API version; fails when no engine answers.
    async fn docker(&self) -> Result<&Docker, ProviderError> {
        self.docker
            .get_or_try_init(|| async {
                let socket = self.config.socket.display().to_string();
                let unreachable = format!("cannot reach the Docker engine on {socket}");
                let docker = Docker::connect_with_unix(&socket, self.config.api_timeout_seconds, &API_VERSION)
                    .map_err(failed(unreachable.clone()))?;
                docker.negotiate_version().await.map_err(failed(unreachable))
            })
            .await
    }

    /// The container `instance_id` (name or id) if it exists and belongs to this controller.
    ///
    /// A container of another controller, or one without our labels, counts as missing: the
    /// provider never touches it.
    async fn find(&self, ctx: &Context, instance_id: &str) -> Result<Option<ContainerInspectResponse>, ProviderError> {
        match self.docker().await?.inspect_container(instance_id, None).await {
            Ok(container) if container::is_owned_by(&container, &ctx.controller_id) => Ok(Some(container)),
            Ok(_) => Ok(None),
            Err(err) if is_not_found(&err) => Ok(None),
            Err(err) => Err(ProviderError::caused_by(
                format!("cannot inspect container {instance_id}"),
                err,
            )),
        }
    }

    /// Stops the container (giving it the configured grace period), then removes it.
    async fn destroy(&self, id: &str) -> Result<(), ProviderError> {
        destroy(self.docker().await?, id, self.config.stop_timeout_seconds).await
    }

    /// The containers of this controller (and of `pool_id`, if given), newest state.
    async fn containers(
        &self,
        controller_id: &str,
        pool_id: Option<&str>,
    ) -> Result<Vec<ContainerInspectResponse>, ProviderError> {
        let mut labels = vec![format!("{LABEL_CONTROLLER_ID}={controller_id}")];
        if let Some(pool_id) = pool_id {
            labels.push(format!("{LABEL_POOL_ID}={pool_id}"));
        }
        let filters = HashMap::from([("label", labels)]);
        let options = ListContainersOptionsBuilder::new().all(true).filters(&filters).build();
        let summaries = self
            .docker()
            .await?
            .list_containers(Some(options))
            .await
            .map_err(failed("cannot list containers"))?;
        let mut containers = Vec::new();
        for id in summaries.into_iter().filter_map(|summary| summary.id) {
            match self.docker().await?.inspect_container(&id, None).await {
                Ok(container) => containers.push(container),
                // Removed since it was listed.
                Err(err) if is_not_found(&err) => {}
                Err(err) => return Err(ProviderError::caused_by(format!("cannot inspect container {id}"), err)),
            }
        }
        Ok(containers)
    }

    async fn create(&self, ctx: &Context, bootstrap: &BootstrapInstance) -> Result<ProviderInstance, ProviderError> {
        if !matches!(bootstrap.os_type.as_str(), "" | "linux") {
            return Err(ProviderError::failed(format!(
                "os_type {:?} is not supported: the docker provider runs Linux containers only",
                bootstrap.os_type
            )));
        }
        let specs = ExtraSpecs::from_json_text(bootstrap.extra_specs_json())
            .map_err(|err| ProviderError::caused_by("cannot create the instance", err))?;
        let flavor = self
            .config
            .flavor(&bootstrap.flavor)
            .map_err(|err| ProviderError::caused_by("cannot create the instance", err))?;
        let image = Some(bootstrap.image.trim())
            .filter(|image| !image.is_empty())
            .or(self.config.default_image.as_deref())
            .ok_or_else(|| {
                ProviderError::failed("the pool has no image and the provider config sets no default_image")
            })?;
        // Invariant: the runner only calls create with a pool id.
        let pool_id = ctx.pool_id.as_deref().unwrap_or_default();
        let name = bootstrap.name.as_str();
        let body = container::create_body(
            &self.config,
            &Request {
                controller_id: &ctx.controller_id,
                pool_id,
                image,
                flavor,
                bootstrap,
                specs: &specs,
            },
        );
        let archive = Files::new(bootstrap, &specs)
            .archive()
            .map_err(|err| ProviderError::caused_by("cannot build the bootstrap archive", err))?;

        let options = CreateContainerOptionsBuilder::new().name(name).build();
        let docker = self.docker().await?;
        let created = match docker.create_container(Some(options), body).await {
            Ok(created) => created,
            Err(err) if status_code(&err) == Some(409) => return Err(ProviderError::Duplicate(name.to_owned())),
            Err(err) if is_not_found(&err) => {
                return Err(ProviderError::caused_by(
                    format!(
                        "image {image:?} is not in the Docker engine (this provider never pulls: \
                         build, load or pull it on the Docker host first)"
                    ),
                    err,
                ))
            }
            Err(err) => return Err(ProviderError::caused_by(format!("cannot create container {name}"), err)),
        };
        // From here on a failure removes the container again, so nothing half-made is left.
        let started = async {
            let upload = UploadToContainerOptionsBuilder::new().path("/").build();
            docker
                .upload_to_container(&created.id, Some(upload), bollard::body_full(archive.into()))
                .await
                .map_err(failed("cannot upload the bootstrap files into the container"))?;
            docker
                .start_container(&created.id, None)
                .await
                .map_err(failed(format!("cannot start container {name}")))?;
            docker
                .inspect_container(&created.id, None)
                .await
                .map_err(failed(format!("cannot inspect container {name}")))
        }
        .await;
        match started {
            Ok(container) => Ok(container::instance(&container)),
            Err(err) => {
                let _ = destroy(docker, &created.id, self.config.stop_timeout_seconds).await;
                Err(err)
            }
        }
    }

    async fn delete(&self, ctx: &Context, instance_id: &str) -> Result<(), ProviderError> {
        match self.find(ctx, instance_id).await? {
            Some(container) => {
                let id = container.id.as_deref().unwrap_or(instance_id);
                self.destroy(id).await
            }
            // Already gone (or never ours): nothing to do, and garm may forget the instance.
            None => Ok(()),
        }
    }

    async fn remove_all(&self, ctx: &Context) -> Result<(), ProviderError> {
        let containers = self.containers(&ctx.controller_id, None).await?;
        let mut tasks = tokio::task::JoinSet::new();
        for id in containers.into_iter().filter_map(|container| container.id) {
            let docker = self.docker().await?.clone();
            let timeout = self.config.stop_timeout_seconds;
            tasks.spawn(async move { destroy(&docker, &id, timeout).await });
        }
        let mut failures = Vec::new();
        while let Some(res) = tasks.join_next().await {
            match res {
                Ok(Ok(())) => {}
                Ok(Err(err)) => failures.push(chain(&err)),
                Err(err) => failures.push(err.to_string()),
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(ProviderError::failed(format!(
                "cannot remove {} container(s): {}",
                failures.len(),
                failures.join("; ")
            )))
        }
    }

    async fn start_container(&self, ctx: &Context, instance_id: &str) -> Result<(), ProviderError> {
        let container = self.owned(ctx, instance_id).await?;
        let id = container.id.as_deref().unwrap_or(instance_id);
        self.docker()
            .await?
            .start_container(id, None)
            .await
            .map_err(failed(format!("cannot start container {instance_id}")))
    }

    async fn stop_container(&self, ctx: &Context, instance_id: &str) -> Result<(), ProviderError> {
        let container = self.owned(ctx, instance_id).await?;
        let id = container.id.as_deref().unwrap_or(instance_id);
        let options = StopContainerOptionsBuilder::new().t(self.stop_timeout()).build();
        self.docker()
            .await?
            .stop_container(id, Some(options))
            .await
            .map_err(failed(format!("cannot stop container {instance_id}")))
    }

    /// Like `find`, but a missing container is `NotFound` (exit code 30).
    async fn owned(&self, ctx: &Context, instance_id: &str) -> Result<ContainerInspectResponse, ProviderError> {
        self.find(ctx, instance_id)
            .await?
            .ok_or_else(|| ProviderError::NotFound(instance_id.to_owned()))
    }

    fn stop_timeout(&self) -> i32 {
        // Invariant: `Config::parse` checked that it fits.
        i32::try_from(self.config.stop_timeout_seconds).unwrap_or(i32::MAX)
    }
}

/// Stops container `id` with a grace period of `timeout` seconds, then force-removes it.
///
/// A container that is already gone counts as removed.
async fn destroy(docker: &Docker, id: &str, timeout: u32) -> Result<(), ProviderError> {
    let options = StopContainerOptionsBuilder::new()
        .t(i32::try_from(timeout).unwrap_or(i32::MAX))
        .build();
    // Stopping is a courtesy to the runner; the forced removal below kills it anyway.
    let stop = docker.stop_container(id, Some(options));
    let _ = tokio::time::timeout(Duration::from_secs(u64::from(timeout) + 10), stop).await;
    let options = RemoveContainerOptionsBuilder::new().force(true).v(true).build();
    match docker.remove_container(id, Some(options)).await {
        Ok(()) => Ok(()),
        Err(err) if is_not_found(&err) => Ok(()),
        // Docker answers 409 while a removal of the same container is in progress.
        Err(err) if status_code(&err) == Some(409) && err.to_string().contains("in progress") => Ok(()),
        Err(err) => Err(ProviderError::caused_by(format!("cannot remove container {id}"), err)),
    }
}

use garm_base::chain;

impl Provider for DockerProvider {
    fn create_instance(&self, ctx: &Context, bootstrap: BootstrapInstance) -> Result<ProviderInstance, ProviderError> {
        self.runtime.block_on(self.create(ctx, &bootstrap))
    }

    fn delete_instance(&self, ctx: &Context, instance_id: &str) -> Result<(), ProviderError> {
        self.runtime.block_on(self.delete(ctx, instance_id))
    }

    fn get_instance(&self, ctx: &Context, instance_id: &str) -> Result<ProviderInstance, ProviderError> {
        let container = self.runtime.block_on(self.owned(ctx, instance_id))?;
        Ok(container::instance(&container))
    }

    fn list_instances(&self, ctx: &Context, pool_id: &str) -> Result<Vec<ProviderInstance>, ProviderError> {
        let containers = self
            .runtime
            .block_on(self.containers(&ctx.controller_id, Some(pool_id)))?;
        let mut instances: Vec<ProviderInstance> = containers.iter().map(container::instance).collect();
        instances.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(instances)
    }

    fn remove_all_instances(&self, ctx: &Context) -> Result<(), ProviderError> {
        self.runtime.block_on(self.remove_all(ctx))
    }

    fn start(&self, ctx: &Context, instance_id: &str) -> Result<(), ProviderError> {
        self.runtime.block_on(self.start_container(ctx, instance_id))
    }

    fn stop(&self, ctx: &Context, instance_id: &str) -> Result<(), ProviderError> {
        self.runtime.block_on(self.stop_container(ctx, instance_id))
    }

    fn get_version(&self, _ctx: &Context) -> String {
        format!("v{}", env!("CARGO_PKG_VERSION"))
    }

    fn validate_pool_info(&self, ctx: &Context) -> Result<(), ProviderError> {
        if let Some(specs) = &ctx.pool_extra_specs {
            ExtraSpecs::from_value(specs).map_err(|err| ProviderError::caused_by("invalid pool", err))?;
        }
        Ok(())
    }

    fn extra_specs_json_schema(&self, _ctx: &Context) -> Result<String, ProviderError> {
        Ok(SCHEMA.to_owned())
    }
}
