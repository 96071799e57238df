//! Maps a VM's provisioning and power states to the four statuses garm accepts.

use garm_provider_protocol::ProviderStatus;
use serde_json::Value;

/// What the instance view says about a VM.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VmState {
    /// `Succeeded`, `Creating`, `Failed`, … (from the model or `ProvisioningState/<x>`).
    pub provisioning: Option<String>,
    /// `running`, `deallocated`, … (from `PowerState/<x>`).
    pub power: Option<String>,
    /// Code and message of a failed provisioning status, if any.
    pub failure: Option<String>,
}

impl VmState {
    /// Reads `properties.provisioningState` and `properties.instanceView.statuses` of a VM
    /// model, or `statuses` of a bare instance view.
    pub fn from_vm(vm: &Value) -> VmState {
        let properties = vm.get("properties").unwrap_or(vm);
        let statuses = properties
            .pointer("/instanceView/statuses")
            .or_else(|| vm.get("statuses"))
            .and_then(Value::as_array);
        let mut state = VmState {
            provisioning: properties
                .get("provisioningState")
                .and_then(Value::as_str)
                .map(str::to_owned),
            ..VmState::default()
        };
        for status in statuses.into_iter().flatten() {
            let code = status.get("code").and_then(Value::as_str).unwrap_or_default();
            let mut parts = code.splitn(3, '/');
            let (kind, value, detail) = (parts.next(), parts.next(), parts.next());
            match (kind, value) {
                (Some(kind), Some(value)) if kind.eq_ignore_ascii_case("PowerState") => {
                    state.power = Some(value.to_ascii_lowercase());
                }
                (Some(kind), Some(value)) if kind.eq_ignore_ascii_case("ProvisioningState") => {
                    state.provisioning = Some(value.to_owned());
                    if value.eq_ignore_ascii_case("failed") {
                        let message = status.get("message").and_then(Value::as_str).unwrap_or_default();
                        state.failure = Some(format!("{}: {message}", detail.unwrap_or("failed")));
                    }
                }
                _ => {}
            }
        }
        state
    }

    /// The garm status, and a fault description for `error`.
    pub fn status(&self) -> (ProviderStatus, Option<String>) {
        let provisioning = self.provisioning.as_deref().map(str::to_ascii_lowercase);
        if provisioning.as_deref() == Some("failed") {
            let fault = self.failure.clone().unwrap_or_else(|| "provisioning failed".to_owned());
            return (ProviderStatus::Error, Some(fault));
        }
        if let Some(power) = self.power.as_deref() {
            let status = match power {
                "running" | "starting" => ProviderStatus::Running,
                "stopping" | "stopped" | "deallocating" | "deallocated" => ProviderStatus::Stopped,
                _ => ProviderStatus::Unknown,
            };
            return (status, None);
        }
        let status = match provisioning.as_deref() {
            // Creation accepted: garm waits for the runner's callback.
            Some("creating" | "updating" | "migrating" | "succeeded") => ProviderStatus::Running,
            _ => ProviderStatus::Unknown,
        };
        (status, None)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn status(vm: Value) -> ProviderStatus {
        VmState::from_vm(&vm).status().0
    }

    fn view(codes: &[&str]) -> Value {
        let statuses: Vec<Value> = codes.iter().map(|code| json!({"code": code})).collect();
        json!({"properties": {"instanceView": {"statuses": statuses}}})
    }

    #[test]
    fn power_state_decides_when_present() {
        assert_eq!(
            status(view(&["ProvisioningState/succeeded", "PowerState/running"])),
            ProviderStatus::Running
        );
        assert_eq!(
            status(view(&["ProvisioningState/creating", "PowerState/starting"])),
            ProviderStatus::Running
        );
        for power in ["stopping", "stopped", "deallocating", "deallocated"] {
            let code = format!("PowerState/{power}");
            assert_eq!(
                status(view(&["ProvisioningState/succeeded", &code])),
                ProviderStatus::Stopped
            );
        }
        assert_eq!(status(view(&["PowerState/unknown"])), ProviderStatus::Unknown);
        assert_eq!(
            status(view(&["ProvisioningState/deleting", "PowerState/deallocated"])),
            ProviderStatus::Stopped
        );
    }

    #[test]
    fn provisioning_state_decides_without_power_state() {
        for state in ["Creating", "Updating", "Migrating", "Succeeded"] {
            assert_eq!(
                status(json!({"properties": {"provisioningState": state}})),
                ProviderStatus::Running,
                "{state}"
            );
        }
        assert_eq!(
            status(json!({"properties": {"provisioningState": "Deleting"}})),
            ProviderStatus::Unknown
        );
        assert_eq!(
            status(json!({"properties": {"provisioningState": "Canceled"}})),
            ProviderStatus::Unknown
        );
        assert_eq!(status(json!({})), ProviderStatus::Unknown);
    }

    #[test]
    fn failed_provisioning_is_an_error_with_a_fault_even_when_running() {
        let vm = json!({"properties": {"instanceView": {"statuses": [
            {"code": "ProvisioningState/failed/AllocationFailed", "message": "no capacity"},
            {"code": "PowerState/running"}
        ]}}});
        let (status, fault) = VmState::from_vm(&vm).status();
        assert_eq!(status, ProviderStatus::Error);
        assert_eq!(fault.as_deref(), Some("AllocationFailed: no capacity"));
    }
}
