//! What a worker process tells the coordinator, and how it travels: the only module that knows bincode.
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

    const MESSAGES: [WorkerMessage; 2] = [
        WorkerMessage::Ready { pid: 4242 },
        WorkerMessage::Done { increments_done: u64::MAX, elapsed_ns: 10_150_000_000 },
    ];

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
