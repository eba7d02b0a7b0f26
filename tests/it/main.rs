//! End-to-end tests of the real binaries. One test binary, modules by subject.

mod asynchronous;
mod bad_input;
mod calibrate;
mod compare;
mod contract;
mod edges;
mod pool;
mod processes;
mod python;
mod redis;
mod report;
mod start_methods;
mod sweep;
mod threads;

/// Every frontend binary; tests that hold for all of them loop over this.
const FRONTENDS: &[&str] = &["counter-threads", "counter-processes", "counter-async"];
