//! garm server.
