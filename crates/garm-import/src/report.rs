//! What an import carries and what it leaves behind, printed for the operator (names, never secrets).

use crate::unseal::SealFormat;
use std::collections::BTreeMap;
use std::fmt;

/// Names printed per kind before the rest is summarised.
const NAMES_SHOWN: usize = 20;

/// The outcome of reading garm's database: what will be (or was) written, and what not.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Printable name of garm's database.
    pub source: String,
    /// garm's controller id, kept.
    pub controller_id: Option<String>,
    /// Kind ("users", "pools", …) → names of the objects carried, in garm's order.
    pub carried: BTreeMap<&'static str, Vec<String>>,
    /// What garm-rs does not take over (or takes over only in part), and why.
    pub not_carried: Vec<NotCarried>,
    /// How many sealed values were in which of garm's formats.
    pub sealed: BTreeMap<SealFormat, usize>,
    /// Remarks on how the source was read.
    pub notes: Vec<String>,
}

/// One object (or kind of object) the import leaves in garm's database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotCarried {
    pub kind: &'static str,
    pub name: String,
    pub reason: String,
}

impl Report {
    pub(crate) fn carry(&mut self, kind: &'static str, name: impl Into<String>) {
        self.carried.entry(kind).or_default().push(name.into());
    }

    pub(crate) fn skip(&mut self, kind: &'static str, name: impl Into<String>, reason: impl Into<String>) {
        self.not_carried.push(NotCarried {
            kind,
            name: name.into(),
            reason: reason.into(),
        });
    }

    pub(crate) fn sealed_value(&mut self, format: SealFormat) {
        *self.sealed.entry(format).or_default() += 1;
    }

    /// Number of carried objects of a kind.
    pub fn count(&self, kind: &str) -> usize {
        self.carried.get(kind).map_or(0, Vec::len)
    }
}

fn names(list: &[String]) -> String {
    let mut shown: Vec<&str> = list.iter().take(NAMES_SHOWN).map(String::as_str).collect();
    let rest = list.len().saturating_sub(NAMES_SHOWN);
    let more = format!("… and {rest} more");
    if rest > 0 {
        shown.push(&more);
    }
    shown.join(", ")
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "source: {}", self.source)?;
        match &self.controller_id {
            Some(id) => writeln!(f, "controller id: {id} (kept)")?,
            None => writeln!(f, "controller id: none in the source (garm-rs will make a new one)")?,
        }
        writeln!(f, "carried:")?;
        for (kind, list) in &self.carried {
            writeln!(f, "  {kind} ({}): {}", list.len(), names(list))?;
        }
        if !self.sealed.is_empty() {
            let formats: Vec<String> = self
                .sealed
                .iter()
                .map(|(format, n)| format!("{n} {}", format.as_str()))
                .collect();
            writeln!(f, "secrets unsealed: {}", formats.join(", "))?;
        }
        if self.not_carried.is_empty() {
            writeln!(f, "not carried: nothing")?;
        } else {
            writeln!(f, "not carried ({}), left in garm's database:", self.not_carried.len())?;
            for item in &self.not_carried {
                writeln!(f, "  {} {}: {}", item.kind, item.name, item.reason)?;
            }
        }
        for note in &self.notes {
            writeln!(f, "note: {note}")?;
        }
        Ok(())
    }
}
