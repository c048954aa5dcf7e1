//! What the server logs during a test: warnings and errors emitted on the
//! test's own thread (the in-process server runs on the test's
//! current-thread runtime), so tests running in parallel never mix.
//!
//! One global subscriber, installed once, formats every warning and hands
//! it to the capture of the thread it was emitted on (if any). A global
//! subscriber keeps tracing's per-callsite interest stable; per-thread
//! default subscribers, set and dropped by tests in parallel, raced with it
//! and lost events.

use std::cell::RefCell;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

type Buffer = Arc<Mutex<Vec<u8>>>;

thread_local! {
    static CURRENT: RefCell<Option<Buffer>> = const { RefCell::new(None) };
}

/// Writes to the capture of the current thread, or nowhere.
struct ThreadSink;

impl Write for ThreadSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CURRENT.with(|c| {
            if let Some(b) = c.borrow().as_ref()
                && let Ok(mut b) = b.lock()
            {
                b.extend_from_slice(buf);
            }
        });
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn install() -> bool {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    *INSTALLED.get_or_init(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(|| ThreadSink)
            .with_ansi(false)
            .with_max_level(tracing::Level::WARN)
            .finish();
        tracing::subscriber::set_global_default(subscriber).is_ok()
    })
}

/// Warnings and errors logged on this thread while it is alive.
pub struct Captured {
    buffer: Buffer,
}

/// Start capturing this thread's warnings and errors.
pub fn capture() -> Captured {
    assert!(install(), "another global tracing subscriber is installed in the test binary");
    let buffer = Buffer::default();
    CURRENT.with(|c| *c.borrow_mut() = Some(Arc::clone(&buffer)));
    Captured { buffer }
}

impl Captured {
    /// The lines logged so far, emptying the capture.
    pub fn take(&self) -> Vec<String> {
        let bytes = match self.buffer.lock() {
            Ok(mut b) => std::mem::take(&mut *b),
            Err(_) => Vec::new(),
        };
        String::from_utf8_lossy(&bytes).lines().map(str::to_string).collect()
    }
}

impl Drop for Captured {
    fn drop(&mut self) {
        CURRENT.with(|c| *c.borrow_mut() = None);
    }
}
