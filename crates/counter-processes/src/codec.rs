//! What a worker process tells the coordinator, what a spawned worker is told, and how they travel: the only
//! module that knows bincode.
//!
//! All workers write to one pipe. A frame is `[worker: u32 LE][length: u16 LE][bincode payload]`, at most
//! [`MAX_FRAME`] bytes, written with a single `write(2)`: a pipe write of at most `PIPE_BUF` (4096) bytes is
//! atomic, so frames of different workers never interleave. The worker number sits outside the payload so
//! that a garbled payload can still be blamed on the right worker. Encoding needs no allocation, which keeps
//! the forked child's work minimal.

use serde::{Deserialize, Serialize};

/// A message from a worker process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WorkerMessage {
    /// The worker is alive and waits for the start.
    Ready {
        /// Its process id.
        pid: i32,
    },
    /// The worker finished its loop.
    Done {
        /// Increments it finished.
        increments_done: u64,
        /// Nanoseconds from its start to its last increment.
        elapsed_ns: u64,
    },
    /// From the fork server, which reaps the workers it forked: how worker `pid` ended (its `wait4`).
    Ended {
        /// The worker's process id.
        pid: i32,
        /// Its raw wait status.
        status: i32,
        /// CPU time in user mode, microseconds.
        user_us: u64,
        /// CPU time in the kernel, microseconds.
        sys_us: u64,
        /// Voluntary context switches.
        voluntary_switches: u64,
        /// Involuntary context switches.
        involuntary_switches: u64,
        /// Its `ru_maxrss`, KiB.
        max_rss_kib: u64,
    },
}

/// The worker number in the frames the fork server sends: not a worker.
pub const FROM_SERVER: u32 = u32::MAX;

/// What a worker started with exec (`--start spawn`) is told by its coordinator, over a pipe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Handoff {
    /// The worker's number.
    pub index: u64,
    /// The coordinator's pid: the worker's parent, which it checks.
    pub parent: i32,
    /// The run's workload (`hold` cleared).
    pub request: counter_core::config::Request,
    /// The counter's segment size in bytes.
    pub segment_bytes: u64,
}

/// The largest hand-off accepted.
pub const MAX_HANDOFF: usize = 4096;

/// Encodes a hand-off.
pub fn encode_handoff(handoff: &Handoff) -> Result<Vec<u8>, CodecError> {
    let mut buffer = vec![0; MAX_HANDOFF];
    let length = bincode::serde::encode_into_slice(handoff, &mut buffer, bincode::config::standard())
        .map_err(CodecError::Encode)?;
    buffer.truncate(length);
    Ok(buffer)
}

/// Decodes a hand-off.
pub fn decode_handoff(bytes: &[u8]) -> Result<Handoff, bincode::error::DecodeError> {
    let config = bincode::config::standard().with_limit::<MAX_HANDOFF>();
    let (handoff, used) = bincode::serde::decode_from_slice(bytes, config)?;
    if used != bytes.len() {
        return Err(bincode::error::DecodeError::Other("the hand-off has bytes left over"));
    }
    Ok(handoff)
}

/// Bytes before the payload: worker number and payload length.
const HEADER: usize = 6;
/// The largest payload accepted; a real one is under 30 bytes.
const MAX_PAYLOAD: usize = 64;
/// The largest frame.
pub const MAX_FRAME: usize = HEADER + MAX_PAYLOAD;

fn config() -> impl bincode::config::Config {
    // Decoding is bounded: a garbled length can never make the decoder allocate or read past the payload.
    bincode::config::standard().with_limit::<MAX_PAYLOAD>()
}

/// A frame that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The payload does not decode.
    #[error("garbled report from worker {worker}")]
    Garbled {
        /// The worker named in the frame's header.
        worker: u32,
        /// What the decoder said.
        #[source]
        source: bincode::error::DecodeError,
    },
    /// The header announces more than a frame may hold.
    #[error("garbled report from worker {worker}: a {length}-byte payload is over the {MAX_PAYLOAD}-byte limit")]
    TooLong {
        /// The worker named in the frame's header.
        worker: u32,
        /// The length announced.
        length: usize,
    },
    /// The pipe closed in the middle of a frame.
    #[error("truncated report{}: the pipe closed {left} bytes into a frame", worker.map(|w| format!(" from worker {w}")).unwrap_or_default())]
    Truncated {
        /// The worker, if the header got through.
        worker: Option<u32>,
        /// Bytes of the frame that arrived.
        left: usize,
    },
    /// The message does not fit in a frame (cannot happen with the messages above).
    #[error("report does not fit in a frame")]
    Encode(#[source] bincode::error::EncodeError),
}

/// Encodes `message` from `worker` into `buffer` and returns the frame.
pub fn encode<'b>(
    worker: u32,
    message: &WorkerMessage,
    buffer: &'b mut [u8; MAX_FRAME],
) -> Result<&'b [u8], CodecError> {
    let (header, payload) = buffer.split_at_mut(HEADER);
    let length = bincode::serde::encode_into_slice(message, payload, config()).map_err(CodecError::Encode)?;
    header[..4].copy_from_slice(&worker.to_le_bytes());
    // `length` is at most MAX_PAYLOAD (the slice's size), which fits in u16.
    header[4..].copy_from_slice(&(length as u16).to_le_bytes());
    Ok(&buffer[..HEADER + length])
}

/// Collects bytes from the pipe and cuts them into messages.
#[derive(Debug, Default)]
pub struct FrameReader {
    pending: Vec<u8>,
}

impl FrameReader {
    /// Adds bytes read from the pipe.
    pub fn push(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
    }

    /// The next whole message, if one has arrived.
    pub fn next_message(&mut self) -> Option<Result<(u32, WorkerMessage), CodecError>> {
        if self.pending.len() < HEADER {
            return None;
        }
        let worker = u32::from_le_bytes([self.pending[0], self.pending[1], self.pending[2], self.pending[3]]);
        let length = usize::from(u16::from_le_bytes([self.pending[4], self.pending[5]]));
        if length > MAX_PAYLOAD {
            // The stream can no longer be trusted: drop it all so that the caller does not see it twice.
            self.pending.clear();
            return Some(Err(CodecError::TooLong { worker, length }));
        }
        if self.pending.len() < HEADER + length {
            return None;
        }
        let decoded = bincode::serde::decode_from_slice(&self.pending[HEADER..HEADER + length], config());
        self.pending.drain(..HEADER + length);
        Some(match decoded {
            Ok((message, used)) if used == length => Ok((worker, message)),
            Ok(_) => Err(CodecError::Garbled {
                worker,
                source: bincode::error::DecodeError::Other("the payload has bytes left over"),
            }),
            Err(source) => Err(CodecError::Garbled { worker, source }),
        })
    }

    /// Called when the pipe is closed: bytes left over are a truncated frame.
    pub fn finish(&self) -> Result<(), CodecError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let worker = (self.pending.len() >= 4)
            .then(|| u32::from_le_bytes([self.pending[0], self.pending[1], self.pending[2], self.pending[3]]));
        Err(CodecError::Truncated { worker, left: self.pending.len() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MESSAGES: [WorkerMessage; 3] = [
        WorkerMessage::Ready { pid: 4242 },
        WorkerMessage::Done { increments_done: u64::MAX, elapsed_ns: 10_150_000_000 },
        WorkerMessage::Ended {
            pid: i32::MAX,
            status: 9,
            user_us: u64::MAX,
            sys_us: u64::MAX,
            voluntary_switches: u64::MAX,
            involuntary_switches: u64::MAX,
            max_rss_kib: u64::MAX,
        },
    ];

    #[test]
    fn a_handoff_round_trips() {
        let handoff =
            Handoff { index: 3, parent: 77, request: counter_core::config::Request::default(), segment_bytes: 4096 };
        let bytes = encode_handoff(&handoff).unwrap();
        assert_eq!(decode_handoff(&bytes).unwrap(), handoff);
        assert!(decode_handoff(&bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn messages_round_trip_even_byte_by_byte() {
        let mut reader = FrameReader::default();
        for (worker, message) in (7..).zip(MESSAGES) {
            let mut buffer = [0; MAX_FRAME];
            let frame = encode(worker, &message, &mut buffer).unwrap().to_vec();
            for byte in &frame {
                assert!(reader.next_message().is_none());
                reader.push(std::slice::from_ref(byte));
            }
            assert_eq!(reader.next_message().unwrap().unwrap(), (worker, message));
        }
        assert!(reader.finish().is_ok());
    }

    #[test]
    fn a_garbled_payload_names_the_worker() {
        let mut reader = FrameReader::default();
        reader.push(&[3, 0, 0, 0, 2, 0, 0xff, 0xff]);
        let error = reader.next_message().unwrap().unwrap_err();
        assert!(matches!(error, CodecError::Garbled { worker: 3, .. }), "{error}");
        assert!(error.to_string().contains("worker 3"));
    }

    #[test]
    fn an_oversized_frame_is_refused_without_reading_it() {
        let mut reader = FrameReader::default();
        reader.push(&[9, 0, 0, 0, 0xff, 0xff]);
        let error = reader.next_message().unwrap().unwrap_err();
        assert!(error.to_string().contains("worker 9") && error.to_string().contains("65535-byte"), "{error}");
    }

    #[test]
    fn a_truncated_frame_is_reported_at_the_end() {
        let mut buffer = [0; MAX_FRAME];
        let frame = encode(5, &MESSAGES[1], &mut buffer).unwrap();
        let mut reader = FrameReader::default();
        reader.push(&frame[..frame.len() - 1]);
        assert!(reader.next_message().is_none());
        let error = reader.finish().unwrap_err();
        assert!(error.to_string().contains("worker 5") && error.to_string().contains("truncated"), "{error}");
    }
}
