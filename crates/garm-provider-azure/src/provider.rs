//! `AzureProvider`: the protocol's commands implemented with one resource group per instance.

use std::time::Instant;

use garm_provider_protocol::{
    Address, BootstrapInstance, Context, Provider, ProviderError, ProviderInstance, ProviderStatus,
};
use serde_json::Value;
use url::Url;

use crate::arm::NETWORK_API;
use crate::bodies::{self, EphemeralPlacement, Ids};
use crate::config::Config;
use crate::error::AzureError;
use crate::extra_specs::ExtraSpecs;
use crate::http::{Arm, Deadline};
use crate::lro::Progress;
use crate::plan::{self, check_instance_name, tags, InstancePlan};
use crate::status::VmState;
use crate::userdata::OsType;

/// The Azure provider for one invocation.
pub struct AzureProvider {
    config: Config,
    arm: Arm,
}

fn failed(what: &str) -> impl FnOnce(AzureError) -> ProviderError + '_ {
    move |err| ProviderError::caused_by(what, err)
}

/// The value of tag `name`, compared case-insensitively as Azure does.
pub fn tag<'a>(resource: &'a Value, name: &str) -> Option<&'a str> {
    resource
        .get("tags")?
        .as_object()?
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .and_then(|(_, value)| value.as_str())
}

/// Whether `resource` carries this controller's tag (and, if given, this pool's).
pub fn is_ours(resource: &Value, controller_id: &str, pool_id: Option<&str>) -> bool {
    tag(resource, tags::CONTROLLER_ID) == Some(controller_id)
        && pool_id.is_none_or(|pool| tag(resource, tags::POOL_ID) == Some(pool))
}

impl AzureProvider {
    pub fn new(config: Config) -> Result<AzureProvider, AzureError> {
        let arm = Arm::new(&config)?;
        Ok(AzureProvider { config, arm })
    }

    fn deadline(&self) -> Deadline {
        Deadline::after(self.config.timeouts.command)
    }

    /// The URL of a resource given by its ARM ID.
    fn id_url(&self, id: &str, api_version: &str) -> Result<Url, AzureError> {
        let mut url = Url::parse(&format!("{}{id}", self.arm.base.as_str().trim_end_matches('/')))
            .map_err(|err| AzureError::Protocol(format!("resource ID {id:?}: {err}")))?;
        url.query_pairs_mut().append_pair("api-version", api_version);
        Ok(url)
    }

    /// Ephemeral OS disk placement from the size's capabilities in the regional SKU list.
    fn ephemeral_placement(&self, plan: &InstancePlan, deadline: Deadline) -> Result<EphemeralPlacement, AzureError> {
        let skus = self.arm.skus(&plan.location, deadline)?;
        let sku = skus
            .iter()
            .find(|sku| {
                sku.get("resourceType").and_then(Value::as_str) == Some("virtualMachines")
                    && sku
                        .get("name")
                        .and_then(Value::as_str)
                        .is_some_and(|name| name.eq_ignore_ascii_case(&plan.vm_size))
            })
            .ok_or_else(|| {
                AzureError::Refused(format!("VM size {} is not offered in {}", plan.vm_size, plan.location))
            })?;
        let capability = |name: &str| {
            sku.get("capabilities")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|capability| capability.get("name").and_then(Value::as_str) == Some(name))
                .and_then(|capability| capability.get("value").and_then(Value::as_str))
                .map(str::to_owned)
        };
        if !capability("EphemeralOSDiskSupported").is_some_and(|value| value.eq_ignore_ascii_case("true")) {
            return Err(AzureError::Refused(format!(
                "VM size {} does not support ephemeral OS disks; turn use_ephemeral_storage off",
                plan.vm_size
            )));
        }
        let number = |name: &str| {
            capability(name)
                .and_then(|value| value.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let cache_gb = (number("CachedDiskBytes") / (1 << 30)) as u32;
        let resource_gb = (number("MaxResourceVolumeMB") / 1024) as u32;
        let wanted = plan.disk.size_gb.unwrap_or(30);
        let (placement, capacity) = if cache_gb >= wanted {
            ("CacheDisk", cache_gb)
        } else if resource_gb >= wanted {
            ("ResourceDisk", resource_gb)
        } else {
            return Err(AzureError::Refused(format!(
                "VM size {} has no local disk of {wanted} GB for an ephemeral OS disk (cache {cache_gb} GB, resource disk {resource_gb} GB)",
                plan.vm_size
            )));
        };
        Ok(EphemeralPlacement {
            placement,
            size_gb: plan.disk.size_gb.unwrap_or(capacity),
        })
    }

    /// Creates everything inside the (already created) resource group.
    fn create_resources(
        &self,
        plan: &InstancePlan,
        ephemeral: Option<EphemeralPlacement>,
        deadline: Deadline,
    ) -> Result<ProviderInstance, AzureError> {
        let name = plan.name.as_str();
        let ids = Ids::new(&self.arm.subscription, name);
        let public_ip_id = if plan.network.public_ip {
            let url = self.arm.network_url(name, "publicIPAddresses", name);
            self.arm.put(&url, &bodies::public_ip(plan), deadline, None)?;
            Some(ids.network("publicIPAddresses", name))
        } else {
            None
        };
        let nsg_url = self.arm.network_url(name, "networkSecurityGroups", name);
        self.arm
            .put(&nsg_url, &bodies::network_security_group(plan), deadline, None)?;
        let subnet_id = match (&plan.network.vnet, &plan.network.existing_subnet) {
            (Some(cidr), _) => {
                let url = self.arm.network_url(name, "virtualNetworks", name);
                self.arm
                    .put(&url, &bodies::virtual_network(plan, &cidr.to_string()), deadline, None)?;
                ids.subnet(name, name)
            }
            (None, Some(subnet)) => subnet.as_str().to_owned(),
            (None, None) => return Err(AzureError::Refused("no subnet to attach the instance to".into())),
        };
        let nic_url = self.arm.network_url(name, "networkInterfaces", name);
        let nic_body = bodies::network_interface(
            plan,
            &subnet_id,
            &ids.network("networkSecurityGroups", name),
            public_ip_id.as_deref(),
        );
        let (_, nic) = self.arm.put(&nic_url, &nic_body, deadline, None)?;
        let nic_id = ids.network("networkInterfaces", name);

        let vm_url = self.arm.vm_url(name, name, "", &[]);
        let vm_body = bodies::virtual_machine(plan, &nic_id, ephemeral);
        // Windows waits for the VM so the extension is not sent to a VM still being created.
        let bound = match plan.os {
            OsType::Linux => Some(Instant::now() + self.config.timeouts.vm_create_wait),
            OsType::Windows => None,
        };
        let (progress, vm) = self.arm.put(&vm_url, &vm_body, deadline, bound)?;
        if progress == Progress::Pending {
            tracing::info!(
                instance = name,
                "the VM is still being created; reporting it as running"
            );
        }
        if let Some(command) = &plan.user_data.windows_command {
            let url = self.arm.vm_url(name, name, "/extensions/CustomScriptExtension", &[]);
            let bound = Instant::now() + self.config.timeouts.vm_create_wait;
            self.arm.put(
                &url,
                &bodies::custom_script_extension(plan, command),
                deadline,
                Some(bound),
            )?;
        }

        let mut addresses = Vec::new();
        if let Some(ip) = nic
            .pointer("/properties/ipConfigurations/0/properties/privateIPAddress")
            .and_then(Value::as_str)
        {
            addresses.push(Address {
                address: ip.to_owned(),
                kind: Address::PRIVATE.to_owned(),
            });
        }
        if public_ip_id.is_some() {
            let url = self.arm.network_url(name, "publicIPAddresses", name);
            if let Some(ip) = self
                .arm
                .get_optional(&url, deadline)?
                .as_ref()
                .and_then(|pip| pip.pointer("/properties/ipAddress"))
                .and_then(Value::as_str)
            {
                addresses.push(Address {
                    address: ip.to_owned(),
                    kind: Address::PUBLIC.to_owned(),
                });
            }
        }
        Ok(ProviderInstance {
            provider_id: name.to_owned(),
            name: name.to_owned(),
            os_type: plan.os.as_str().to_owned(),
            os_name: plan.tags[tags::OS_NAME].clone(),
            os_version: plan.tags[tags::OS_VERSION].clone(),
            os_arch: plan.tags[tags::OS_ARCH].clone(),
            addresses,
            status: ProviderStatus::Running,
            provider_fault: Vec::new(),
            vm_id: vm_id_of(&vm),
        })
    }

    /// Deletes the group of a failed create, with its own deadline.
    fn clean_up(&self, name: &str) {
        let deadline = Deadline::after(self.config.timeouts.cleanup);
        let res = self
            .arm
            .begin_delete_group(name, deadline)
            .and_then(|deletion| match deletion {
                Some(deletion) => self.arm.finish_delete_group(&deletion, deadline),
                None => Ok(()),
            });
        match res {
            Ok(()) => tracing::info!(instance = name, "deleted the resources of the failed create"),
            Err(err) => {
                tracing::error!(instance = name, error = %chain(&err), "cannot delete the resources of the failed create")
            }
        }
    }

    /// The addresses of a VM's first NIC (one NIC GET, plus one public IP GET if attached).
    fn addresses(&self, vm: &Value, deadline: Deadline) -> Result<Vec<Address>, AzureError> {
        let Some(nic_id) = vm
            .pointer("/properties/networkProfile/networkInterfaces/0/id")
            .and_then(Value::as_str)
        else {
            return Ok(Vec::new());
        };
        let Some(nic) = self.arm.get_optional(&self.id_url(nic_id, NETWORK_API)?, deadline)? else {
            return Ok(Vec::new());
        };
        let mut addresses = Vec::new();
        let ip_config = nic.pointer("/properties/ipConfigurations/0/properties");
        if let Some(ip) = ip_config
            .and_then(|config| config.get("privateIPAddress"))
            .and_then(Value::as_str)
        {
            addresses.push(Address {
                address: ip.to_owned(),
                kind: Address::PRIVATE.to_owned(),
            });
        }
        if let Some(pip_id) = ip_config
            .and_then(|config| config.pointer("/publicIPAddress/id"))
            .and_then(Value::as_str)
        {
            if let Some(pip) = self.arm.get_optional(&self.id_url(pip_id, NETWORK_API)?, deadline)? {
                if let Some(ip) = pip.pointer("/properties/ipAddress").and_then(Value::as_str) {
                    addresses.push(Address {
                        address: ip.to_owned(),
                        kind: Address::PUBLIC.to_owned(),
                    });
                }
            }
        }
        Ok(addresses)
    }

    /// This controller's VM named `name`, or `NotFound`.
    fn own_vm(&self, ctx: &Context, name: &str, deadline: Deadline) -> Result<Value, ProviderError> {
        if check_instance_name(name).is_err() {
            return Err(ProviderError::NotFound(name.to_owned()));
        }
        let vm = self
            .arm
            .get_vm(name, name, deadline)
            .map_err(failed("cannot read the VM"))?
            .ok_or_else(|| ProviderError::NotFound(name.to_owned()))?;
        if !is_ours(&vm, &ctx.controller_id, None) {
            tracing::warn!(
                instance = name,
                "a VM of this name exists but belongs to another controller"
            );
            return Err(ProviderError::NotFound(name.to_owned()));
        }
        Ok(vm)
    }
}

/// Whether describing a VM requires every `os_*` tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tags {
    /// One instance asked for by id (`GetInstance`): a missing tag is a protocol error.
    Required,
    /// Listing a pool's instances: a VM missing one is described anyway, empty where it lacks.
    Lenient,
}

/// Describes a VM from its tags and instance view.
pub fn instance_from_vm(vm: &Value, tags: Tags) -> Result<ProviderInstance, AzureError> {
    let name = vm.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
    let os_tag = |key: &str| -> Result<String, AzureError> {
        match tag(vm, key) {
            Some(value) => Ok(value.to_owned()),
            None if tags == Tags::Required => Err(AzureError::Protocol(format!("VM {name} has no {key} tag"))),
            None => Ok(String::new()),
        }
    };
    let (status, fault) = VmState::from_vm(vm).status();
    Ok(ProviderInstance {
        provider_id: name.clone(),
        name: name.clone(),
        os_type: os_tag(tags::OS_TYPE)?,
        os_name: os_tag(tags::OS_NAME)?,
        os_version: os_tag(tags::OS_VERSION)?,
        os_arch: os_tag(tags::OS_ARCH)?,
        addresses: Vec::new(),
        status,
        provider_fault: fault.map(String::into_bytes).unwrap_or_default(),
        vm_id: vm_id_of(vm),
    })
}

/// ARM's `properties.vmId`: the VM's unique id, which its HCL report carries as
/// `vmUniqueId`, so garm can tell evidence from this VM from evidence from another.
fn vm_id_of(vm: &Value) -> String {
    vm.pointer("/properties/vmId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

pub use garm_base::chain;

impl Provider for AzureProvider {
    fn create_instance(&self, ctx: &Context, bootstrap: BootstrapInstance) -> Result<ProviderInstance, ProviderError> {
        let specs = ExtraSpecs::parse(bootstrap.extra_specs_json()).map_err(failed("cannot create the instance"))?;
        let pool_id = ctx.pool_id.clone().unwrap_or_else(|| bootstrap.pool_id.clone());
        let plan = InstancePlan::build(&ctx.controller_id, &pool_id, &bootstrap, &self.config, &specs)
            .map_err(failed("cannot create the instance"))?;
        for note in &plan.notes {
            tracing::warn!(instance = %plan.name, "{note}");
        }
        let deadline = self.deadline();
        let ephemeral = match plan.disk.ephemeral {
            true => Some(
                self.ephemeral_placement(&plan, deadline)
                    .map_err(failed("cannot create the instance"))?,
            ),
            false => None,
        };
        tracing::info!(instance = %plan.name, size = %plan.vm_size, security = ?plan.security, "creating the instance");
        if let Err(err) = self
            .arm
            .put_resource_group(&plan.name, &bodies::resource_group(&plan), deadline)
        {
            // A refused request or a missing token created nothing; anything else might have.
            if !matches!(err, AzureError::Arm { .. } | AzureError::Credential(_)) {
                self.clean_up(&plan.name);
            }
            return Err(ProviderError::caused_by("cannot create the instance", err));
        }
        match self.create_resources(&plan, ephemeral, deadline) {
            Ok(instance) => {
                tracing::info!(instance = %plan.name, tokens = self.arm.tokens_fetched(), "instance created");
                Ok(instance)
            }
            Err(err) => {
                tracing::error!(instance = %plan.name, error = %chain(&err), "create failed; deleting what was made");
                self.clean_up(&plan.name);
                Err(ProviderError::caused_by("cannot create the instance", err))
            }
        }
    }

    fn delete_instance(&self, ctx: &Context, instance_id: &str) -> Result<(), ProviderError> {
        if check_instance_name(instance_id).is_err() {
            return Ok(());
        }
        let deadline = self.deadline();
        let what = "cannot delete the instance";
        let Some(group) = self
            .arm
            .get_resource_group(instance_id, deadline)
            .map_err(failed(what))?
        else {
            tracing::info!(instance = instance_id, "no such resource group; nothing to delete");
            return Ok(());
        };
        if !is_ours(&group, &ctx.controller_id, None) {
            return Err(ProviderError::failed(format!(
                "resource group {instance_id} is not tagged as this controller's; refusing to delete it"
            )));
        }
        if let Some(deletion) = self
            .arm
            .begin_delete_group(instance_id, deadline)
            .map_err(failed(what))?
        {
            self.arm
                .finish_delete_group(&deletion, deadline)
                .map_err(failed(what))?;
        }
        Ok(())
    }

    fn get_instance(&self, ctx: &Context, instance_id: &str) -> Result<ProviderInstance, ProviderError> {
        let deadline = self.deadline();
        let vm = self.own_vm(ctx, instance_id, deadline)?;
        let mut instance = instance_from_vm(&vm, Tags::Required).map_err(failed("cannot describe the instance"))?;
        instance.addresses = self
            .addresses(&vm, deadline)
            .map_err(failed("cannot read the instance's addresses"))?;
        Ok(instance)
    }

    fn list_instances(&self, ctx: &Context, pool_id: &str) -> Result<Vec<ProviderInstance>, ProviderError> {
        let deadline = self.deadline();
        let what = "cannot list the instances";
        let vms = self.arm.list_vms(deadline).map_err(failed(what))?;
        let mut instances = Vec::new();
        for vm in vms.iter().filter(|vm| is_ours(vm, &ctx.controller_id, Some(pool_id))) {
            let has_view = vm.pointer("/properties/instanceView/statuses").is_some();
            let vm = match has_view {
                true => vm.clone(),
                // Fallback when the list carried no runtime status.
                false => {
                    let name = vm.get("name").and_then(Value::as_str).unwrap_or_default();
                    let group = resource_group_of(vm).unwrap_or(name);
                    match self.arm.get_vm(group, name, deadline).map_err(failed(what))? {
                        Some(vm) => vm,
                        None => continue,
                    }
                }
            };
            instances.push(instance_from_vm(&vm, Tags::Lenient).map_err(failed(what))?);
        }
        instances.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(instances)
    }

    fn remove_all_instances(&self, ctx: &Context) -> Result<(), ProviderError> {
        let deadline = self.deadline();
        let what = "cannot remove the instances";
        let groups = self
            .arm
            .groups_tagged(tags::CONTROLLER_ID, &ctx.controller_id, deadline)
            .map_err(failed(what))?;
        let mut deletions = Vec::new();
        let mut errors = Vec::new();
        // Checked again here: never trust a server-side filter with a delete.
        for group in groups.iter().filter(|group| is_ours(group, &ctx.controller_id, None)) {
            let Some(name) = group.get("name").and_then(Value::as_str) else {
                continue;
            };
            tracing::info!(group = name, "deleting");
            match self.arm.begin_delete_group(name, deadline) {
                Ok(Some(deletion)) => deletions.push((name.to_owned(), deletion)),
                Ok(None) => {}
                Err(err) => errors.push(format!("{name}: {}", chain(&err))),
            }
        }
        for (name, deletion) in &deletions {
            if let Err(err) = self.arm.finish_delete_group(deletion, deadline) {
                errors.push(format!("{name}: {}", chain(&err)));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ProviderError::failed(format!("{what}: {}", errors.join("; "))))
        }
    }

    fn start(&self, ctx: &Context, instance_id: &str) -> Result<(), ProviderError> {
        let deadline = self.deadline();
        self.own_vm(ctx, instance_id, deadline)?;
        self.arm
            .vm_action(instance_id, instance_id, "start", deadline)
            .map_err(failed("cannot start the instance"))
    }

    fn stop(&self, ctx: &Context, instance_id: &str) -> Result<(), ProviderError> {
        let deadline = self.deadline();
        self.own_vm(ctx, instance_id, deadline)?;
        // Deallocate, not power off: compute is released and billing stops.
        self.arm
            .vm_action(instance_id, instance_id, "deallocate", deadline)
            .map_err(failed("cannot stop the instance"))
    }

    fn get_version(&self, _ctx: &Context) -> String {
        format!("v{}", env!("CARGO_PKG_VERSION"))
    }

    fn validate_pool_info(&self, ctx: &Context) -> Result<(), ProviderError> {
        let what = "invalid pool";
        let specs =
            ExtraSpecs::from_value(ctx.pool_extra_specs.clone().unwrap_or(Value::Null)).map_err(failed(what))?;
        plan::check_specs(&self.config, &specs, &mut Vec::new()).map_err(failed(what))?;
        Ok(())
    }

    fn config_json_schema(&self, _ctx: &Context) -> Result<String, ProviderError> {
        Ok(crate::schema::CONFIG.to_owned())
    }

    fn extra_specs_json_schema(&self, _ctx: &Context) -> Result<String, ProviderError> {
        Ok(crate::schema::EXTRA_SPECS.to_owned())
    }
}

/// The resource group named in a resource's ID.
fn resource_group_of(resource: &Value) -> Option<&str> {
    let id = resource.get("id")?.as_str()?;
    let mut segments = id.split('/');
    segments.find(|segment| segment.eq_ignore_ascii_case("resourceGroups"))?;
    segments.next()
}
