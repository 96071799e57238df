//! Typed ARM calls: resource groups, network resources, VMs, extensions and SKUs, with their
//! pinned api-versions.

use std::time::Instant;

use reqwest::Method;
use serde_json::Value;
use url::Url;

use crate::error::AzureError;
use crate::http::{Answer, Arm, Deadline};
use crate::lro::Progress;

pub const RESOURCES_API: &str = "2021-04-01";
pub const NETWORK_API: &str = "2023-11-01";
pub const COMPUTE_API: &str = "2024-03-01";
pub const SKUS_API: &str = "2021-07-01";

/// Resource types whose deletion the resource group delete may force.
const FORCE_DELETION_TYPES: &str = "Microsoft.Compute/virtualMachines,Microsoft.Compute/virtualMachineScaleSets";

/// A resource group delete that was accepted and may still be running.
pub struct GroupDeletion {
    url: Url,
    answer: Answer,
}

impl Arm {
    pub fn group_url(&self, group: &str) -> Url {
        self.url(&format!("/resourcegroups/{group}"), RESOURCES_API, &[])
    }

    /// `kind` is e.g. `networkSecurityGroups` or `virtualNetworks/<vnet>/subnets`.
    pub fn network_url(&self, group: &str, kind: &str, name: &str) -> Url {
        self.url(
            &format!("/resourceGroups/{group}/providers/Microsoft.Network/{kind}/{name}"),
            NETWORK_API,
            &[],
        )
    }

    /// `suffix` is appended to the VM's path (`""`, `/start`, `/extensions/<name>`, …).
    pub fn vm_url(&self, group: &str, vm: &str, suffix: &str, query: &[(&str, &str)]) -> Url {
        self.url(
            &format!("/resourceGroups/{group}/providers/Microsoft.Compute/virtualMachines/{vm}{suffix}"),
            COMPUTE_API,
            query,
        )
    }

    /// `GET`; a 404 is `None`.
    pub fn get_optional(&self, url: &Url, deadline: Deadline) -> Result<Option<Value>, AzureError> {
        match self.send(Method::GET, url, None, deadline) {
            Ok(answer) => answer.json().map(Some),
            Err(err) if err.is_not_found() => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// `PUT` (create or update), waits for the operation up to `bound`, then reads the result.
    pub fn put(
        &self,
        url: &Url,
        body: &Value,
        deadline: Deadline,
        bound: Option<Instant>,
    ) -> Result<(Progress, Value), AzureError> {
        let answer = self.send(Method::PUT, url, Some(body), deadline)?;
        let progress = self.wait(&Method::PUT, url, &answer, deadline, bound)?;
        let result = match progress {
            Progress::Done => self.send(Method::GET, url, None, deadline)?.json()?,
            Progress::Pending => answer.json()?,
        };
        Ok((progress, result))
    }

    /// Creates or updates the resource group (synchronous in ARM).
    pub fn put_resource_group(&self, group: &str, body: &Value, deadline: Deadline) -> Result<(), AzureError> {
        self.send(Method::PUT, &self.group_url(group), Some(body), deadline)?;
        Ok(())
    }

    pub fn get_resource_group(&self, group: &str, deadline: Deadline) -> Result<Option<Value>, AzureError> {
        self.get_optional(&self.group_url(group), deadline)
    }

    /// Starts deleting a resource group, forcing VM deletion; retries without the force
    /// parameter where ARM does not support it. `None` when the group does not exist.
    pub fn begin_delete_group(&self, group: &str, deadline: Deadline) -> Result<Option<GroupDeletion>, AzureError> {
        let forced = self.url(
            &format!("/resourcegroups/{group}"),
            RESOURCES_API,
            &[("forceDeletionTypes", FORCE_DELETION_TYPES)],
        );
        let answer = match self.send(Method::DELETE, &forced, None, deadline) {
            Ok(answer) => Ok((forced, answer)),
            Err(err) if err.code() == Some("UnsupportedForceDeletionResourceTypeInQueryString") => {
                tracing::info!(group, "force deletion is not supported here; deleting without it");
                let plain = self.group_url(group);
                self.send(Method::DELETE, &plain, None, deadline)
                    .map(|answer| (plain, answer))
            }
            Err(err) => Err(err),
        };
        match answer {
            Ok((url, answer)) => Ok(Some(GroupDeletion { url, answer })),
            Err(err) if err.is_not_found() => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Waits until a started group deletion has finished.
    pub fn finish_delete_group(&self, deletion: &GroupDeletion, deadline: Deadline) -> Result<(), AzureError> {
        match self.wait(&Method::DELETE, &deletion.url, &deletion.answer, deadline, None) {
            Ok(_) => Ok(()),
            Err(err) if err.is_not_found() => Ok(()),
            Err(err) => Err(err),
        }
    }

    /// Resource groups carrying tag `name` = `value` (filtered by ARM, all pages).
    pub fn groups_tagged(&self, name: &str, value: &str, deadline: Deadline) -> Result<Vec<Value>, AzureError> {
        let filter = format!("tagName eq '{name}' and tagValue eq '{}'", value.replace('\'', "''"));
        let url = self.url("/resourcegroups", RESOURCES_API, &[("$filter", &filter)]);
        self.list_all(&url, deadline)
    }

    /// Every VM of the subscription with its power state (`statusOnly=true`), all pages.
    pub fn list_vms(&self, deadline: Deadline) -> Result<Vec<Value>, AzureError> {
        let url = self.url(
            "/providers/Microsoft.Compute/virtualMachines",
            COMPUTE_API,
            &[("statusOnly", "true")],
        );
        self.list_all(&url, deadline)
    }

    /// The VM with its instance view; `None` if it (or its group) does not exist.
    pub fn get_vm(&self, group: &str, vm: &str, deadline: Deadline) -> Result<Option<Value>, AzureError> {
        self.get_optional(&self.vm_url(group, vm, "", &[("$expand", "instanceView")]), deadline)
    }

    /// `POST …/{start|deallocate|powerOff|restart}` and waits for it.
    pub fn vm_action(&self, group: &str, vm: &str, action: &str, deadline: Deadline) -> Result<(), AzureError> {
        let url = self.vm_url(group, vm, &format!("/{action}"), &[]);
        let answer = self.send(Method::POST, &url, None, deadline)?;
        self.wait(&Method::POST, &url, &answer, deadline, None)?;
        Ok(())
    }

    /// The regional resource SKU list (for ephemeral OS disk placement).
    pub fn skus(&self, location: &str, deadline: Deadline) -> Result<Vec<Value>, AzureError> {
        let filter = format!("location eq '{location}'");
        let url = self.url("/providers/Microsoft.Compute/skus", SKUS_API, &[("$filter", &filter)]);
        self.list_all(&url, deadline)
    }
}
