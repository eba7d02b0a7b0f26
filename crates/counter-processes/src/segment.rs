//! The POSIX shared-memory segment that holds the counter.
//!
//! It is created exclusively, mode 0600, under a name that says what it is and whose it is
//! (`/counter-processes-<coordinator pid>`), mapped, and then **unlinked at once**. The mapping stays valid in
//! the coordinator and in every worker forked from it (children inherit mappings across `fork`), while the
//! name is gone from `/dev/shm` before any worker exists: however the run ends, even by `kill -9` of the
//! coordinator, there is no name left behind to hold memory. The kernel frees the pages when the last process
//! that maps them exits. `pmap` shows the mapping as `/dev/shm/counter-processes-<pid> (deleted)`.

use std::ptr::NonNull;

use nix::sys::mman::shm_unlink;
use shared_memory::{Shmem, ShmemConf, ShmemError};

/// A mapped, already unlinked shared-memory segment.
pub(crate) struct Segment {
    shmem: Shmem,
    name: String,
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment").field("name", &self.name).field("len", &self.shmem.len()).finish()
    }
}

/// Why the segment could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    /// `shm_open`, `ftruncate` or `mmap` failed.
    #[error("could not create the shared-memory segment {name} of {size} bytes")]
    Create {
        /// The segment's name.
        name: String,
        /// Its size.
        size: usize,
        /// What the `shared_memory` crate said.
        #[source]
        source: ShmemError,
    },
    /// The name could not be removed after mapping.
    #[error("could not unlink the shared-memory segment {name}")]
    Unlink {
        /// The segment's name.
        name: String,
        /// The OS's error.
        #[source]
        source: nix::Error,
    },
}

impl Segment {
    /// The name a coordinator with this pid gives its segment.
    pub(crate) fn name_for(pid: u32) -> String {
        format!("/counter-processes-{pid}")
    }

    /// Creates, maps and unlinks a segment of `size` bytes.
    pub(crate) fn create(size: usize) -> Result<Segment, SegmentError> {
        let name = Segment::name_for(std::process::id());
        let create = || ShmemConf::new().size(size).os_id(&name).create();
        let mut shmem = match create() {
            // The name carries our pid, so an existing one was left by a dead process that had our pid before
            // (killed between create and unlink): it is garbage, remove it and try once more.
            Err(ShmemError::MappingIdExists) => {
                let _ = shm_unlink(name.as_str());
                create()
            }
            other => other,
        }
        .map_err(|source| SegmentError::Create { name: name.clone(), size, source })?;
        // We unlink the name ourselves, now; the crate must not try again when the mapping is dropped.
        shmem.set_owner(false);
        shm_unlink(name.as_str()).map_err(|source| SegmentError::Unlink { name: name.clone(), source })?;
        Ok(Segment { shmem, name })
    }

    /// The start of the mapping (page-aligned).
    pub(crate) fn base(&self) -> NonNull<u8> {
        NonNull::new(self.shmem.as_ptr()).expect("a successful mmap is never null")
    }

    /// The segment's name, already unlinked.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}
