//! The error returned when a template fails to parse or to render.

/// A template could not be parsed, or rendering it failed.
///
/// Both variants display as `line N: message`, which is the detail garm's API
/// puts in its 400 responses (`Parse` when a template is created or updated,
/// `Exec` when the install script is rendered for an instance).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The source is not a valid template: bad syntax, an unknown function,
    /// an undefined variable or an unbalanced `{{end}}`.
    #[error("line {line}: {message}")]
    Parse { line: usize, message: String },
    /// The template parsed but evaluating an action failed, for example a
    /// comparison of incompatible values or an index out of range.
    #[error("line {line}: {message}")]
    Exec { line: usize, message: String },
}

impl TemplateError {
    pub(crate) fn parse(line: usize, message: impl Into<String>) -> Self {
        Self::Parse {
            line,
            message: message.into(),
        }
    }

    pub(crate) fn exec(line: usize, message: impl Into<String>) -> Self {
        Self::Exec {
            line,
            message: message.into(),
        }
    }

    /// The 1-based source line the error points at.
    pub fn line(&self) -> usize {
        match self {
            Self::Parse { line, .. } | Self::Exec { line, .. } => *line,
        }
    }

    /// The message without the line prefix.
    pub fn message(&self) -> &str {
        match self {
            Self::Parse { message, .. } | Self::Exec { message, .. } => message,
        }
    }

    /// True for errors found while parsing (the template itself is invalid).
    pub fn is_parse(&self) -> bool {
        matches!(self, Self::Parse { .. })
    }
}
