//! Ids of the things the pool manager passes around, each its own type, so a pool id
//! handed where an entity id is expected does not compile.
//!
//! They are plain strings on every wire (serde transparent) and in every row: the REST, SQL
//! and forge boundaries convert with `From<String>` / `as_str()`. An id reads as a `&str`
//! wherever one is wanted (`Deref`), but a string becomes an id only by an explicit
//! conversion.
//!
//! ```
//! use garm_model::{EntityId, PoolId};
//! fn entity_of(_: &EntityId) {}
//! entity_of(&EntityId::from("e-1"));
//! let pool = PoolId::from("p-1");
//! assert_eq!(pool.as_str(), "p-1");
//! ```
//!
//! ```compile_fail
//! use garm_model::{EntityId, PoolId};
//! fn entity_of(_: &EntityId) {}
//! entity_of(&PoolId::from("p-1")); // a pool id is not an entity id
//! ```
//!
//! ```compile_fail
//! use garm_model::EntityId;
//! fn entity_of(_: &EntityId) {}
//! entity_of("e-1"); // nor is a bare string
//! ```

use std::fmt;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_owned())
            }
        }

        impl From<&String> for $name {
            fn from(id: &String) -> Self {
                Self(id.clone())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == other.0
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }
    };
}

string_id! {
    /// A repository's, organization's or enterprise's id (a UUID string, as garm's).
    EntityId
}

string_id! {
    /// A pool's id (a UUID string, as garm's).
    PoolId
}

string_id! {
    /// An instance's name: the key of instances in the pool manager (in-flight claims,
    /// backoff, the runner's name on the forge). Instances also have a UUID id, which the
    /// API accepts too; that one stays a `String`.
    InstanceName
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_plain_strings_in_json() {
        let id = PoolId::from("p-1");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"p-1\"");
        let back: PoolId = serde_json::from_str("\"p-1\"").unwrap();
        assert_eq!(back, id);
        assert_eq!(id, "p-1");
        assert_eq!(id.to_string(), "p-1");
    }

    #[test]
    fn ids_order_as_their_text() {
        let mut ids = vec![EntityId::from("b"), EntityId::from("a")];
        ids.sort();
        assert_eq!(ids, vec![EntityId::from("a"), EntityId::from("b")]);
    }
}
