//! End-to-end tests of the real binaries. One test binary, modules by subject.

mod architecture;
mod asynchronous;
mod bad_input;
mod calibrate;
mod compare;
mod contract;
mod edges;
mod faults;
mod pool;
mod processes;
mod python;
mod readme;
mod report;
mod start_methods;
mod sweep;
mod threads;
mod trace;
