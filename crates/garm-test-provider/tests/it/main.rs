//! Integration tests: the built `garm-test-provider` binary, run with the environment and stdin garm gives it.

mod external;
mod lifecycle;
mod output_props;
mod support;
mod switches;
