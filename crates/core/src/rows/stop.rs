//! Stopping a source: once its token is cancelled, reading fails with [`Stopped`], and the
//! parser ends with [`RowsError::Stopped`](super::RowsError::Stopped).

use std::io::Read;

use tokio_util::sync::CancellationToken;

/// The read error of a source told to stop ([`Stoppable`]): the parser ends with
/// [`RowsError::Stopped`](super::RowsError::Stopped) on it.
#[derive(Debug)]
pub(super) struct Stopped;

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("reading was stopped")
    }
}

impl std::error::Error for Stopped {}

impl Stopped {
    /// Whether `e` is a stopped source's error.
    pub(super) fn is(e: &std::io::Error) -> bool {
        e.get_ref().is_some_and(|inner| inner.is::<Stopped>())
    }
}

/// A source that fails with [`Stopped`] once its token is cancelled: before each read, and in
/// place of the end a cut-short download reports.
pub(super) struct Stoppable<R> {
    inner: R,
    stop: CancellationToken,
}

impl<R> Stoppable<R> {
    pub(super) fn new(inner: R, stop: CancellationToken) -> Stoppable<R> {
        Stoppable { inner, stop }
    }
}

impl<R: Read> Read for Stoppable<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let stopped = || std::io::Error::other(Stopped);
        if self.stop.is_cancelled() {
            return Err(stopped());
        }
        match self.inner.read(buf)? {
            0 if self.stop.is_cancelled() => Err(stopped()),
            n => Ok(n),
        }
    }
}
