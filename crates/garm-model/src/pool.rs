//! Pool settings: OS enums and the validation rules garm applies to pools.

use serde::{Deserialize, Serialize};

pub use crate::settings_error::PoolSettingsError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OsType {
    Linux,
    Windows,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OsArch {
    Amd64,
    Arm,
    Arm64,
}

impl OsType {
    pub fn parse(text: &str) -> Result<Self, PoolSettingsError> {
        match text.to_ascii_lowercase().as_str() {
            "" | "linux" => Ok(Self::Linux),
            "windows" => Ok(Self::Windows),
            _ => Err(PoolSettingsError::new(
                "os_type",
                format!("invalid os type {text:?} (expected linux or windows)"),
            )),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Linux => "linux",
            Self::Windows => "windows",
        }
    }
}

impl OsArch {
    pub fn parse(text: &str) -> Result<Self, PoolSettingsError> {
        match text.to_ascii_lowercase().as_str() {
            "" | "amd64" | "x86_64" | "x64" => Ok(Self::Amd64),
            "arm" => Ok(Self::Arm),
            "arm64" | "aarch64" => Ok(Self::Arm64),
            _ => Err(PoolSettingsError::new(
                "os_arch",
                format!("invalid os arch {text:?} (expected amd64, arm or arm64)"),
            )),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Amd64 => "amd64",
            Self::Arm => "arm",
            Self::Arm64 => "arm64",
        }
    }
}

/// Checks sizing: `max_runners > 0` and `min_idle_runners <= max_runners`.
pub fn check_sizing(min_idle_runners: u32, max_runners: u32) -> Result<(), PoolSettingsError> {
    if max_runners == 0 {
        return Err(PoolSettingsError::new(
            "max_runners",
            "max_runners must be greater than 0",
        ));
    }
    if min_idle_runners > max_runners {
        return Err(PoolSettingsError::new(
            "min_idle_runners",
            format!("min_idle_runners ({min_idle_runners}) cannot be larger than max_runners ({max_runners})"),
        ));
    }
    Ok(())
}

/// Extra specs are free-form JSON for the provider; garm only checks that they parse.
pub fn check_extra_specs(raw: &str) -> Result<(), PoolSettingsError> {
    serde_json::from_str::<serde_json::Value>(raw)
        .map(|_| ())
        .map_err(|err| PoolSettingsError::new("extra_specs", format!("extra_specs is not valid JSON: {err}")))
}

/// Tags: at least one and at most [`crate::names::MAX_TAGS`], none empty, each a valid label
/// ([`crate::names::check_tag`]); duplicates (case-insensitive) are folded.
pub fn normalize_tags(tags: &[String]) -> Result<Vec<String>, PoolSettingsError> {
    if tags.len() > crate::names::MAX_TAGS {
        return Err(PoolSettingsError::new(
            "tags",
            format!(
                "{} tags given; a runner can have at most {}",
                tags.len(),
                crate::names::MAX_TAGS
            ),
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for tag in tags {
        let tag = tag.trim();
        if tag.is_empty() {
            return Err(PoolSettingsError::new("tags", "tags cannot be empty strings"));
        }
        crate::names::check_tag(tag)?;
        if !out.iter().any(|t| t.eq_ignore_ascii_case(tag)) {
            out.push(tag.to_string());
        }
    }
    if out.is_empty() {
        return Err(PoolSettingsError::new(
            "tags",
            "missing tags: a pool needs at least one tag",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_idle_above_max_names_the_field() {
        let err = check_sizing(5, 4).unwrap_err();
        assert_eq!(err.field, "min_idle_runners");
        assert!(check_sizing(0, 0).is_err());
        assert!(check_sizing(4, 4).is_ok());
    }

    #[test]
    fn extra_specs_must_be_json() {
        assert!(check_extra_specs(r#"{"confidential": true}"#).is_ok());
        assert_eq!(check_extra_specs("{confidential").unwrap_err().field, "extra_specs");
    }

    #[test]
    fn tags_are_deduplicated_case_insensitively_and_required() {
        let tags = vec!["Linux".to_string(), "linux".to_string(), "gpu".to_string()];
        assert_eq!(normalize_tags(&tags).unwrap(), vec!["Linux", "gpu"]);
        assert!(normalize_tags(&[]).is_err());
        assert!(normalize_tags(&[" ".to_string()]).is_err());
    }

    #[test]
    fn os_values_parse_like_garm() {
        assert_eq!(OsType::parse("").unwrap(), OsType::Linux);
        assert!(OsType::parse("macos").is_err());
        assert_eq!(OsArch::parse("arm64").unwrap(), OsArch::Arm64);
        assert_eq!(OsArch::parse("i386").unwrap_err().field, "os_arch");
    }
}
