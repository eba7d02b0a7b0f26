//! The POSIX shared-memory segment that holds the counter.
//!
//! It is created exclusively, mode 0600, under a name that says what it is and whose it is and that nobody
//! can guess (`/counter-processes-<coordinator pid>-<64 random bits>`: in a PID namespace every coordinator
//! is pid 1), its pages are reserved, it is mapped, and then its name is **unlinked at once**. The mapping stays
//! valid in the coordinator and in every worker forked from it, while the name is gone from `/dev/shm` before
//! any worker exists: however the run ends, even by `kill -9` of the coordinator, there is no name left behind
//! to hold memory. `pmap` shows the mapping as `/dev/shm/counter-processes-<pid>-<hex> (deleted)`.
//!
//! A name that exists already is somebody else's: it is never removed, and another random name is tried. The
//! pages are reserved with `posix_fallocate` before the mapping is touched, so that a full `/dev/shm` is an
//! error that says so instead of a SIGBUS at the first write.

use std::{
    os::fd::{AsFd, BorrowedFd, OwnedFd},
    ptr::NonNull,
};

use counter_core::{
    proc::limits::{self, LimitError},
    units,
};
use nix::{
    errno::Errno,
    fcntl::{OFlag, posix_fallocate},
    sys::{
        mman::{shm_open, shm_unlink},
        stat::Mode,
        statvfs::statvfs,
    },
};
use shared_memory::{Shmem, ShmemConf, ShmemError};

/// Where POSIX shared memory lives on Linux.
const SHM_DIR: &str = "/dev/shm";

/// Random names tried before giving up: each clash means a name someone else holds; several in a row mean
/// something other than chance.
const NAME_ATTEMPTS: u32 = 8;

/// A mapped, already unlinked shared-memory segment.
pub(crate) struct Segment {
    shmem: Shmem,
    name: String,
    /// An open descriptor of the segment (close-on-exec), for a worker started with exec to map it.
    fd: OwnedFd,
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (name, len, fd) = (&self.name, self.shmem.len(), &self.fd);
        f.debug_struct("Segment").field("name", name).field("len", &len).field("fd", fd).finish()
    }
}

/// Why the segment could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    /// A limit stands in the way: `RLIMIT_FSIZE`, or the space free in `/dev/shm`.
    #[error(transparent)]
    Limit(#[from] LimitError),
    /// `shm_open` or `mmap` failed.
    #[error("could not create the shared-memory segment {name} of {size} bytes in {SHM_DIR}: {}", describe(*.errno))]
    Create {
        /// The segment's name.
        name: String,
        /// Its size.
        size: usize,
        /// What the OS said.
        errno: Errno,
    },
    /// The segment could not be given its size or its pages.
    #[error("could not {what} the shared-memory segment {name} ({size} bytes) in {SHM_DIR}: {}", describe(*.errno))]
    Size {
        /// `size` or `reserve the pages of`.
        what: &'static str,
        /// The segment's name.
        name: String,
        /// Its size.
        size: usize,
        /// What the OS said.
        errno: Errno,
    },
    /// Every name tried existed already.
    #[error("could not find a free name in {SHM_DIR}: {NAME_ATTEMPTS} random names in a row existed already")]
    NoFreeName,
    /// The name could not be removed after mapping.
    #[error("could not unlink the shared-memory segment {name}: {}", describe(*.errno))]
    Unlink {
        /// The segment's name.
        name: String,
        /// What the OS said.
        errno: Errno,
    },
    /// Anything else the `shared_memory` crate reported.
    #[error("could not create the shared-memory segment {name}: {source}")]
    Other {
        /// The segment's name.
        name: String,
        /// What the crate said.
        source: ShmemError,
    },
}

/// An errno in words, with what it usually means here.
fn describe(errno: Errno) -> String {
    let hint = match errno {
        Errno::ENOENT => format!(" ({SHM_DIR} is missing: is a tmpfs mounted there?)"),
        Errno::EROFS => format!(" ({SHM_DIR} is mounted read-only)"),
        Errno::EACCES => format!(" (no permission to create files in {SHM_DIR})"),
        _ => String::new(),
    };
    format!("{}{hint}", errno.desc().to_lowercase())
}

impl Segment {
    /// Creates a segment of `size` bytes, reserves its pages, maps it and unlinks its name.
    pub(crate) fn create(size: usize) -> Result<Segment, SegmentError> {
        check_file_size_limit(size)?;
        for _ in 0..NAME_ATTEMPTS {
            let name = fresh_name();
            let mut shmem = match ShmemConf::new().size(size).os_id(&name).create() {
                // Somebody else's name: leave it alone and draw another.
                Err(ShmemError::MappingIdExists) => continue,
                Err(ShmemError::MapCreateFailed(errno)) => {
                    return Err(SegmentError::Create { name, size, errno: Errno::from_raw(errno as i32) });
                }
                Err(ShmemError::UnknownOsError(errno)) => {
                    return Err(SegmentError::Size { what: "size", name, size, errno: Errno::from_raw(errno as i32) });
                }
                Err(source) => return Err(SegmentError::Other { name, source }),
                Ok(shmem) => shmem,
            };
            // From here the name is ours (created with O_EXCL). If reserving fails, dropping `shmem`, still its
            // owner, unmaps it and removes the name.
            let fd = reserve(&name, size)?;
            // We unlink the name ourselves, now; the crate must not try again when the mapping is dropped.
            shmem.set_owner(false);
            match shm_unlink(name.as_str()) {
                // Gone already: only its owner (us) or root could have removed it, and our mapping stays valid.
                Ok(()) | Err(Errno::ENOENT) => {}
                Err(errno) => return Err(SegmentError::Unlink { name, errno }),
            }
            return Ok(Segment { shmem, name, fd });
        }
        Err(SegmentError::NoFreeName)
    }

    /// The start of the mapping (page-aligned).
    pub(crate) fn base(&self) -> NonNull<u8> {
        NonNull::new(self.shmem.as_ptr()).expect("a successful mmap is never null")
    }

    /// The segment's descriptor (close-on-exec), which keeps it alive after its name is gone.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Its size in bytes.
    pub(crate) fn len(&self) -> usize {
        self.shmem.len()
    }

    /// The segment's name, already unlinked.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}

/// `/counter-processes-<pid>-<64 random bits>`.
fn fresh_name() -> String {
    format!("/counter-processes-{}-{}", std::process::id(), counter_core::unique::random_hex())
}

/// The segment is a file, so `RLIMIT_FSIZE` applies to it: sizing it past the limit would kill the process
/// with SIGXFSZ, between the creation and the unlinking of the name.
fn check_file_size_limit(size: usize) -> Result<(), LimitError> {
    match limits::file_size_soft_limit() {
        Some(limit) if size as u64 > limit => Err(LimitError {
            request: format!("a {} shared-memory segment", units::bytes(size as u64)),
            limit: "RLIMIT_FSIZE",
            value: units::bytes(limit),
            detail: "the counter's segment is a file in /dev/shm, so the file-size limit applies; raise it with \
                     `ulimit -f N` or `prlimit --fsize=N`"
                .to_owned(),
        }),
        _ => Ok(()),
    }
}

/// Reserves every page of the segment now, so that a full `/dev/shm` is an error here rather than a SIGBUS at
/// the first write to the mapping.
fn reserve(name: &str, size: usize) -> Result<OwnedFd, SegmentError> {
    let size_error = |errno| SegmentError::Size { what: "reserve the pages of", name: name.to_owned(), size, errno };
    let fd = shm_open(name, OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty()).map_err(size_error)?;
    match posix_fallocate(&fd, 0, size as libc::off_t) {
        Ok(()) => Ok(fd),
        Err(Errno::ENOSPC) => {
            let free = statvfs(SHM_DIR).map_or_else(
                |errno| format!("unknown ({errno})"),
                |stats| units::bytes(stats.blocks_available() * stats.fragment_size()),
            );
            Err(SegmentError::Limit(LimitError {
                request: format!("a {} shared-memory segment", units::bytes(size as u64)),
                limit: "/dev/shm",
                value: format!("{free} free"),
                detail: "the counter lives in a file in the tmpfs at /dev/shm, which is full; free some space there, \
                         or remount it larger (`mount -o remount,size=N /dev/shm`)"
                    .to_owned(),
            }))
        }
        Err(errno) => Err(size_error(errno)),
    }
}
