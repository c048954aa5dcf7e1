//! What the server logs during a test: warnings and errors captured on the
//! test's own thread (the in-process server runs on the test's
//! current-thread runtime), so tests running in parallel never mix.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing::subscriber::DefaultGuard;

#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Warnings and errors logged on this thread while it is alive.
pub struct Captured {
    sink: Sink,
    _guard: DefaultGuard,
}

/// Start capturing this thread's warnings and errors.
pub fn capture() -> Captured {
    let sink = Sink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .finish();
    Captured { sink, _guard: tracing::subscriber::set_default(subscriber) }
}

impl Captured {
    /// The lines logged so far, emptying the capture.
    pub fn take(&self) -> Vec<String> {
        let bytes = match self.sink.0.lock() {
            Ok(mut b) => std::mem::take(&mut *b),
            Err(_) => Vec::new(),
        };
        String::from_utf8_lossy(&bytes).lines().map(str::to_string).collect()
    }
}
