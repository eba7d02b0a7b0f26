//! Helpers for the end-to-end tests: build the workspace's binaries once, run them, and wait for them.
