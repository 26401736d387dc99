//! Tarball bodies streamed from their file, with `Content-Length` from `fstat`.
//!
//! One blocking task per response opens the file, reads its length and sends it in chunks of
//! [`CHUNK`] bytes through a channel of [`CHANNEL_CHUNKS`] slots: a response holds at most a few
//! chunks in memory whatever the file's size, and a slow client stops the reads (back-pressure)
//! instead of making the server buffer. A file no larger than one chunk (almost every npm
//! tarball) costs one open, one `fstat` and one read on one blocking-pool hop, with no channel.
//!
//! The body never outgrows the length announced: a file that grows while it is sent is cut at
//! that length; one that shrinks ends the body early, so hyper closes the connection and the
//! client sees a truncated download (which it retries), never a wrong length.

use std::io::Read as _;
use std::path::PathBuf;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt as _, StreamBody};
use hyper::body::Frame;
use tokio::sync::{mpsc, oneshot};

use super::{ResponseBody, full};

/// Bytes read per `read` call and sent per body frame.
pub(super) const CHUNK: usize = 256 * 1024;

/// Chunks that may wait between the reading thread and the connection.
const CHANNEL_CHUNKS: usize = 4;

/// A file opened for a response: its length and a body that yields exactly that many bytes.
pub(super) struct FileBody {
    /// The file's length when it was opened, for `Content-Length`.
    pub(super) len: u64,
    /// The bytes, one frame per chunk.
    pub(super) body: ResponseBody,
}

type Chunk = std::io::Result<Bytes>;

/// Opens `path` and starts streaming it; fails (before any byte is sent) when the file cannot be
/// opened, its length read or its first chunk read.
pub(super) async fn open(path: PathBuf) -> std::io::Result<FileBody> {
    let (first_tx, first_rx) = oneshot::channel::<std::io::Result<FileBody>>();
    tokio::task::spawn_blocking(move || send_file(&path, first_tx));
    first_rx
        .await
        .unwrap_or_else(|_| Err(std::io::Error::other("the file reader stopped")))
}

/// Runs on the blocking pool: answers `first` with the length and a body, then (for a file
/// larger than one chunk) feeds that body until the end of the file or until the client goes.
fn send_file(path: &std::path::Path, first: oneshot::Sender<std::io::Result<FileBody>>) {
    let opened = std::fs::File::open(path).and_then(|file| {
        let len = file.metadata()?.len();
        let mut reader = file.take(len);
        let head = read_chunk(&mut reader, len.min(CHUNK as u64) as usize)?;
        Ok((len, reader, head))
    });
    let (len, mut reader, head) = match opened {
        Ok(parts) => parts,
        Err(err) => {
            let _ = first.send(Err(err));
            return;
        }
    };
    if head.len() as u64 == len || head.is_empty() {
        // The whole file in one frame (or a file that shrank to nothing: an empty, short body).
        let _ = first.send(Ok(FileBody {
            len,
            body: full(head),
        }));
        return;
    }
    let (chunks, receiver) = mpsc::channel::<Chunk>(CHANNEL_CHUNKS);
    let body = StreamBody::new(ChunkStream { receiver }).boxed();
    if first.send(Ok(FileBody { len, body })).is_err() || chunks.blocking_send(Ok(head)).is_err() {
        return; // the request was abandoned
    }
    let mut sent = 0u64;
    loop {
        let want = (len - sent).min(CHUNK as u64) as usize;
        match read_chunk(&mut reader, want) {
            Ok(chunk) if chunk.is_empty() => return, // end of file (or it shrank: body ends short)
            Ok(chunk) => {
                sent += chunk.len() as u64;
                if chunks.blocking_send(Ok(chunk)).is_err() {
                    return; // the client went away: stop reading
                }
            }
            Err(err) => {
                let _ = chunks.blocking_send(Err(err));
                return;
            }
        }
    }
}

/// Reads up to `want` bytes, fewer only at the end of the (length-limited) file.
fn read_chunk(reader: &mut impl std::io::Read, want: usize) -> std::io::Result<Bytes> {
    let mut buffer = BytesMut::zeroed(want);
    let mut filled = 0;
    while filled < want {
        match reader.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    buffer.truncate(filled);
    Ok(buffer.freeze())
}

/// The receiving end as a stream of body frames.
struct ChunkStream {
    receiver: mpsc::Receiver<Chunk>,
}

impl futures_util::Stream for ChunkStream {
    type Item = std::io::Result<Frame<Bytes>>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.receiver
            .poll_recv(cx)
            .map(|chunk| chunk.map(|c| c.map(Frame::data)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_bytes(path: PathBuf) -> (u64, Vec<u8>) {
        let file = open(path).await.unwrap();
        let bytes = file.body.collect().await.unwrap().to_bytes();
        (file.len, bytes.to_vec())
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    #[tokio::test]
    async fn files_of_every_size_arrive_whole() {
        let dir = tempfile::tempdir().unwrap();
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17, 9 * CHUNK] {
            let path = dir.path().join(format!("{len}.tgz"));
            let content = pattern(len);
            std::fs::write(&path, &content).unwrap();
            let (announced, received) = body_bytes(path).await;
            assert_eq!(announced, len as u64);
            assert!(received == content, "{len} bytes came back different");
        }
    }

    #[tokio::test]
    async fn a_missing_file_fails_before_any_byte() {
        let dir = tempfile::tempdir().unwrap();
        let err = open(dir.path().join("absent.tgz")).await.err().unwrap();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    }

    #[tokio::test]
    async fn a_growing_file_is_cut_at_the_announced_length() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grows.tgz");
        let content = pattern(64 * CHUNK);
        std::fs::write(&path, &content).unwrap();
        let mut file = open(path.clone()).await.unwrap();
        // The reader is at most a few chunks ahead (back-pressure), far from the end.
        let first = file
            .body
            .frame()
            .await
            .unwrap()
            .unwrap()
            .into_data()
            .unwrap();
        let mut appended = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        std::io::Write::write_all(&mut appended, &pattern(5 * CHUNK)).unwrap();
        let rest = file.body.collect().await.unwrap().to_bytes();
        assert_eq!(file.len, content.len() as u64);
        assert_eq!(first.len() + rest.len(), content.len());
    }

    #[tokio::test]
    async fn a_shrinking_file_ends_the_body_short() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shrinks.tgz");
        std::fs::write(&path, pattern(64 * CHUNK)).unwrap();
        let mut file = open(path.clone()).await.unwrap();
        let first = file
            .body
            .frame()
            .await
            .unwrap()
            .unwrap()
            .into_data()
            .unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(10 * CHUNK as u64)
            .unwrap();
        let rest = file.body.collect().await.unwrap().to_bytes();
        assert_eq!(file.len, 64 * CHUNK as u64);
        assert!(
            first.len() + rest.len() < 64 * CHUNK,
            "no more than the file still holds"
        );
    }
}
