//! The names the provider keeps for itself: the directory its bootstrap files go to inside a
//! container and the label namespace it marks containers with. A leaf module, so the config
//! and extra-specs checks can refuse these names without depending on the code that uses them.

/// Where the bootstrap files live in the container.
pub const BOOTSTRAP_DIR: &str = "/garm";

/// Labels starting with this belong to the provider; the config may not set them.
pub const RESERVED_LABEL_PREFIX: &str = "garm.";
/// The controller that owns the container; every command filters on it.
pub const LABEL_CONTROLLER_ID: &str = "garm.controller-id";
/// The pool the instance belongs to; `ListInstances` filters on it.
pub const LABEL_POOL_ID: &str = "garm.pool-id";
/// The instance name (also the container name and the `provider_id`).
pub const LABEL_INSTANCE_NAME: &str = "garm.instance-name";
/// The pool's `os_type`.
pub const LABEL_OS_TYPE: &str = "garm.os-type";
/// The pool's `os_arch`.
pub const LABEL_OS_ARCH: &str = "garm.os-arch";
/// The pool's flavor.
pub const LABEL_FLAVOR: &str = "garm.flavor";
