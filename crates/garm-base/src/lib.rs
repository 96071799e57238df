//! The bottom of the crate graph: what every garm-rs crate (server, pool manager, forge client,
//! providers) needs in the same form, so that it exists once.
//!
//! - [`Secret`]: tokens, keys, passwords and JIT blobs, which print as `***`.
//! - [`chain`]: an error and its causes on one line, for logs and status messages.

mod secret;

pub use secret::Secret;

/// `a: b: c` from an error and its source chain.
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|l| l as _)
        }
    }

    #[test]
    fn the_chain_lists_every_cause_in_order() {
        let err = Layer(
            "create failed",
            Some(Box::new(Layer("ARM 409", Some(Box::new(Layer("quota", None)))))),
        );
        assert_eq!(chain(&err), "create failed: ARM 409: quota");
        assert_eq!(chain(&Layer("alone", None)), "alone");
    }
}
