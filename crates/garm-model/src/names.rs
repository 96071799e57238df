//! Validation of the names and labels operators type: what GitHub or the provider protocol
//! implies for each field, checked before anything is stored.
//!
//! Every check names its JSON field in the error. The rules:
//! - repository owners, organization and enterprise names: GitHub account and slug syntax
//!   (ASCII letters, digits, `-` and `_`, starting with a letter or digit, at most 39 / 100
//!   characters);
//! - repository names: GitHub's (ASCII letters, digits, `-`, `_`, `.`, at most 100, not `.`
//!   or `..`);
//! - runner prefixes: the start of an instance name, which providers use as a host name, so
//!   a DNS label: ASCII letters, digits and `-`, starting with a letter or digit, at most
//!   [`MAX_RUNNER_PREFIX`] characters so that `<prefix>-<12 random>` stays within 63;
//! - images and flavors: opaque to garm but handed to the provider; printable text (spaces
//!   allowed, as cloud image names have them), no path traversal, bounded length;
//! - tags (runner labels): printable, no whitespace or commas (the runner's `--labels` list
//!   is comma-separated), at most 256 characters each and [`MAX_TAGS`] per pool (GitHub's
//!   limit on a runner's labels);
//! - free names (credentials, endpoints): printable text of bounded length.
//!
//! "Printable" everywhere means: no control characters (NUL, newlines, escape sequences) and
//! no bidirectional-override or invisible formatting characters, which can make a name
//! display as something it is not.

use crate::settings_error::PoolSettingsError;

/// Longest runner prefix: `<prefix>-` plus 12 random characters fits a 63-character DNS label.
pub const MAX_RUNNER_PREFIX: usize = 50;
/// Most tags a pool may have: GitHub accepts at most 100 labels on a runner.
pub const MAX_TAGS: usize = 100;
/// Longest tag.
pub const MAX_TAG_LEN: usize = 256;
/// Longest image or flavor.
pub const MAX_IMAGE_LEN: usize = 512;
/// Longest free name (credentials, endpoints).
pub const MAX_NAME_LEN: usize = 128;

/// Characters that change how surrounding text is displayed without being visible:
/// bidirectional embeddings, overrides and isolates, directional marks, zero-width joiners.
fn is_deceptive(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

fn err(field: &'static str, message: impl Into<String>) -> PoolSettingsError {
    PoolSettingsError::new(field, message)
}

/// Non-empty printable text of at most `max` characters.
pub fn check_printable(field: &'static str, value: &str, max: usize) -> Result<(), PoolSettingsError> {
    if value.is_empty() {
        return Err(err(field, format!("{field} cannot be empty")));
    }
    let count = value.chars().count();
    if count > max {
        return Err(err(
            field,
            format!("{field} is {count} characters long; at most {max} are allowed"),
        ));
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(err(
            field,
            format!("{field} contains the control character U+{:04X}", c as u32),
        ));
    }
    if let Some(c) = value.chars().find(|c| is_deceptive(*c)) {
        return Err(err(
            field,
            format!("{field} contains the invisible formatting character U+{:04X}", c as u32),
        ));
    }
    Ok(())
}

fn check_ascii_name(
    field: &'static str,
    value: &str,
    max: usize,
    extra: &[char],
    what: &str,
) -> Result<(), PoolSettingsError> {
    check_printable(field, value, max)?;
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || extra.contains(c)))
    {
        return Err(err(field, format!("{field} contains {c:?}; {what}")));
    }
    if !value.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(err(field, format!("{field} must start with a letter or a digit")));
    }
    Ok(())
}

/// A GitHub user or organization login (a repository's owner, an organization's name).
pub fn check_account(field: &'static str, value: &str) -> Result<(), PoolSettingsError> {
    check_ascii_name(
        field,
        value,
        39,
        &['-', '_'],
        "GitHub account names have only ASCII letters, digits, '-' and '_'",
    )
}

/// An enterprise slug.
pub fn check_enterprise(field: &'static str, value: &str) -> Result<(), PoolSettingsError> {
    check_ascii_name(
        field,
        value,
        100,
        &['-', '_'],
        "enterprise slugs have only ASCII letters, digits, '-' and '_'",
    )
}

/// A repository name.
pub fn check_repository(field: &'static str, value: &str) -> Result<(), PoolSettingsError> {
    check_printable(field, value, 100)?;
    if value == "." || value == ".." {
        return Err(err(field, format!("{field} cannot be {value:?}")));
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || ['-', '_', '.'].contains(c)))
    {
        return Err(err(
            field,
            format!("{field} contains {c:?}; repository names have only ASCII letters, digits, '-', '_' and '.'"),
        ));
    }
    Ok(())
}

/// A pool's runner prefix (the start of every instance name).
pub fn check_runner_prefix(value: &str) -> Result<(), PoolSettingsError> {
    check_ascii_name(
        "runner_prefix",
        value,
        MAX_RUNNER_PREFIX,
        &['-'],
        "instance names are host names: ASCII letters, digits and '-'",
    )
}

/// An image or a flavor: opaque to garm, but it must be printable and name no path outside.
pub fn check_provider_value(field: &'static str, value: &str) -> Result<(), PoolSettingsError> {
    check_printable(field, value, MAX_IMAGE_LEN)?;
    let traverses = value == ".." || value.split(['/', '\\']).any(|segment| segment == "..");
    if traverses {
        return Err(err(field, format!("{field} must not contain a '..' path segment")));
    }
    if value.trim() != value {
        return Err(err(field, format!("{field} must not start or end with white space")));
    }
    Ok(())
}

/// One runner label.
pub fn check_tag(value: &str) -> Result<(), PoolSettingsError> {
    check_printable("tags", value, MAX_TAG_LEN)?;
    if let Some(c) = value.chars().find(|c| c.is_whitespace() || *c == ',') {
        return Err(err(
            "tags",
            format!("tag {value:?} contains {c:?}; labels have no white space or commas"),
        ));
    }
    Ok(())
}

/// A runAsUser for the systemd unit: a user name systemd accepts in `User=` (strict form),
/// so nothing else can be written into the unit.
pub fn check_unix_user(field: &'static str, value: &str) -> Result<(), PoolSettingsError> {
    let ok = value.len() <= 31
        && value.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(err(
            field,
            format!(
                "{field} must be a user name of at most 31 ASCII letters, digits, '_' and '-', starting with a letter or '_'"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: [&str; 6] = [
        "a\0b",
        "a\nb",
        "a\u{1b}[31mb",
        "admin\u{202E}gpj.exe",
        "a\u{2066}b",
        "a\u{200B}b",
    ];

    #[test]
    fn hostile_characters_are_refused_everywhere_with_the_field_named() {
        for bad in HOSTILE {
            assert_eq!(check_account("owner", bad).unwrap_err().field, "owner", "{bad:?}");
            assert_eq!(check_repository("name", bad).unwrap_err().field, "name");
            assert_eq!(check_enterprise("name", bad).unwrap_err().field, "name");
            assert_eq!(check_runner_prefix(bad).unwrap_err().field, "runner_prefix");
            assert_eq!(check_provider_value("image", bad).unwrap_err().field, "image");
            assert_eq!(check_provider_value("flavor", bad).unwrap_err().field, "flavor");
            assert_eq!(check_tag(bad).unwrap_err().field, "tags");
            assert!(check_printable("name", bad, 100).is_err());
        }
    }

    #[test]
    fn real_names_pass() {
        check_account("owner", "mkulke").unwrap();
        check_account("owner", "octo-org_emu").unwrap();
        check_repository("name", "garm-playground").unwrap();
        check_repository("name", ".github").unwrap();
        check_enterprise("name", "garm-fixture-enterprise").unwrap();
        check_runner_prefix("garm").unwrap();
        check_provider_value(
            "image",
            "Canonical:0001-com-ubuntu-confidential-vm-jammy:22_04-lts-cvm:latest",
        )
        .unwrap();
        check_provider_value(
            "image",
            "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/i/versions/1.0.0",
        )
        .unwrap();
        check_provider_value("image", "Ubuntu 22.04 LTS").unwrap();
        check_provider_value("flavor", "Standard_DC2as_v5").unwrap();
        check_tag("self-hosted").unwrap();
        check_tag("ubuntu-22.04").unwrap();
        check_unix_user("runAsUser", "runner").unwrap();
        check_unix_user("runAsUser", "_svc-runner1").unwrap();
    }

    #[test]
    fn traversal_lengths_and_separators_are_refused() {
        assert!(check_repository("name", "..").is_err());
        assert!(check_repository("name", "../etc").is_err());
        assert!(check_account("owner", "../x").is_err());
        assert!(check_account("owner", &"a".repeat(40)).is_err());
        assert!(check_account("owner", "-lead").is_err());
        assert!(check_repository("name", &"a".repeat(101)).is_err());
        assert!(check_runner_prefix(&"a".repeat(MAX_RUNNER_PREFIX)).is_ok());
        assert!(check_runner_prefix(&"a".repeat(MAX_RUNNER_PREFIX + 1)).is_err());
        assert!(check_runner_prefix("my_prefix").is_err());
        assert!(check_provider_value("image", "../../etc/passwd").is_err());
        assert!(check_provider_value("image", "..").is_err());
        assert!(check_provider_value("image", " padded").is_err());
        assert!(check_provider_value("image", &"x".repeat(MAX_IMAGE_LEN + 1)).is_err());
        assert!(check_tag("a,b").is_err());
        assert!(check_tag("a b").is_err());
        assert!(check_tag(&"t".repeat(MAX_TAG_LEN + 1)).is_err());
        let long = "x".repeat(10_000);
        let message = check_repository("name", &long).unwrap_err().to_string();
        assert!(message.starts_with("name: ") && message.len() < 200, "{message}");
    }

    #[test]
    fn run_as_user_cannot_carry_unit_lines() {
        for bad in [
            "runner\nExecStartPre=/bin/sh",
            "root;",
            "",
            "1user",
            "a b",
            &"u".repeat(32),
        ] {
            assert_eq!(
                check_unix_user("runAsUser", bad).unwrap_err().field,
                "runAsUser",
                "{bad:?}"
            );
        }
    }
}
