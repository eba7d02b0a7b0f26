//! Writing what a program prints without ever panicking: `println!` panics when standard output is full or
//! its reader has gone, and `eprintln!` when standard error is. A report that cannot be written is an error
//! with its own exit code, never a panic and never a silent success.

use std::{
    fmt,
    io::{self, Write},
    os::fd::AsFd,
};

use nix::{
    fcntl::{FcntlArg, OFlag, fcntl},
    sys::stat::{SFlag, fstat},
};

/// Why standard output could not take what was printed.
#[derive(Debug)]
pub enum PrintError {
    /// The reader has gone (`| head`): not worth a message; the program ends quietly.
    BrokenPipe,
    /// Any other failure (a full disk, `/dev/full`).
    Failed(io::Error),
}

impl fmt::Display for PrintError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrintError::BrokenPipe => f.write_str("could not write to standard output: its reader has gone"),
            PrintError::Failed(error) => write!(f, "could not write to standard output: {error}"),
        }
    }
}

impl std::error::Error for PrintError {}

impl From<io::Error> for PrintError {
    fn from(error: io::Error) -> PrintError {
        if error.kind() == io::ErrorKind::BrokenPipe { PrintError::BrokenPipe } else { PrintError::Failed(error) }
    }
}

/// Writes `text` to standard output and flushes it.
pub fn print(text: &str) -> Result<(), PrintError> {
    let mut stdout = io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

/// Writes `text` to standard error; if that fails there is nowhere left to say so, and the exit code alone
/// must tell.
pub fn eprint(text: &str) {
    let _ = io::stderr().lock().write_all(text.as_bytes());
}

/// Whether the program was started with standard output closed (`>&-`).
///
/// Rust's runtime opens `/dev/null` read-write in place of a closed standard stream before `main`, so writes
/// would succeed and the report be lost without a word. A shell's `>/dev/null` opens it write-only, so the two
/// can be told apart: only the runtime's stand-in is read-write.
pub fn stdout_was_closed() -> bool {
    let stdout = io::stdout();
    let fd = stdout.as_fd();
    let read_write = fcntl(fd, FcntlArg::F_GETFL)
        .is_ok_and(|flags| OFlag::from_bits_truncate(flags) & OFlag::O_ACCMODE == OFlag::O_RDWR);
    // /dev/null is character device 1:3 on Linux.
    let dev_null = fstat(fd).is_ok_and(|stat| {
        SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFCHR && stat.st_rdev == libc::makedev(1, 3)
    });
    read_write && dev_null
}
