//! Stopping when told. As a container's PID 1 the kernel drops every signal that
//! has no handler, so without one `docker stop`'s or ECS's SIGTERM would be ignored
//! while the probes run, and the server would start after all once they passed.
//!
//! [`install`] gives SIGTERM, SIGINT and SIGQUIT a handler that records the first
//! signal and wakes the async side through a socket pair (a handler may do little
//! more than write(2)). Before exec, [`restore_defaults`] puts the default actions
//! back and only then looks at the record, so a signal that arrived at any moment
//! before is seen, and the server inherits the dispositions it expects.

use std::io;
use std::os::fd::IntoRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicI32, Ordering};

/// The signals that mean "stop": `docker stop`/ECS (TERM), Ctrl-C (INT), Ctrl-\ (QUIT).
pub const SIGNALS: [libc::c_int; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGQUIT];

static RECEIVED: AtomicI32 = AtomicI32::new(0);
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(sig: libc::c_int) {
    // SAFETY (whole body): only atomics and write(2), which are async-signal-safe;
    // errno is saved and restored so the interrupted code never sees ours.
    let errno = unsafe { *libc::__errno_location() };
    let _ = RECEIVED.compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst);
    let fd = WAKE_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        let b = sig as u8;
        // A full socket buffer only means a wake-up is already pending.
        unsafe { libc::write(fd, (&b as *const u8).cast(), 1) };
    }
    unsafe { *libc::__errno_location() = errno };
}

fn set_action(sig: libc::c_int, handler: libc::sighandler_t) -> io::Result<()> {
    // SAFETY: a zeroed sigaction is valid; the handler is an `extern "C" fn(c_int)`
    // or SIG_DFL, and the struct outlives the call.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        for s in SIGNALS {
            libc::sigaddset(&mut sa.sa_mask, s);
        }
        if libc::sigaction(sig, &sa, std::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The receiving end of the wake-up socket; [`Listener::wait`] resolves on the first
/// stop signal.
pub struct Listener(UnixStream);

/// Installs the handlers. Call once, before the probes start.
pub fn install() -> io::Result<Listener> {
    let (tx, rx) = UnixStream::pair()?;
    tx.set_nonblocking(true)?;
    rx.set_nonblocking(true)?;
    // The sending end lives as long as the process (std opens it close-on-exec, so
    // the server never inherits it).
    let old = WAKE_FD.swap(tx.into_raw_fd(), Ordering::SeqCst);
    if old >= 0 {
        // SAFETY: a descriptor this module opened and nothing else uses.
        unsafe { libc::close(old) };
    }
    for sig in SIGNALS {
        set_action(sig, on_signal as *const () as libc::sighandler_t)?;
    }
    Ok(Listener(rx))
}

impl Listener {
    /// The first stop signal's number. Needs a tokio runtime with I/O enabled.
    pub async fn wait(self) -> i32 {
        let rx = match tokio::net::UnixStream::from_std(self.0) {
            Ok(rx) => rx,
            // Without a wake-up the probes' own deadlines still end the run, and the
            // record is checked before exec.
            Err(_) => return std::future::pending().await,
        };
        loop {
            let sig = RECEIVED.load(Ordering::SeqCst);
            if sig != 0 {
                return sig;
            }
            if rx.readable().await.is_err() {
                return std::future::pending().await;
            }
            let mut buf = [0u8; 16];
            let _ = rx.try_read(&mut buf);
        }
    }
}

/// The first stop signal received so far, if any.
pub fn received() -> Option<i32> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// Puts the default actions back (for the server about to be exec'd), then reports
/// whether a stop signal arrived before that.
pub fn restore_defaults() -> Option<i32> {
    for sig in SIGNALS {
        let _ = set_action(sig, libc::SIG_DFL);
    }
    received()
}

pub fn name(sig: i32) -> &'static str {
    match sig {
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        _ => "a signal",
    }
}

/// A shell's exit status for a process ended by `sig`.
pub fn exit_code(sig: i32) -> u8 {
    (128 + sig.clamp(0, 127)) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_signal_is_recorded_wakes_the_waiter_and_survives_until_exec() {
        let listener = install().unwrap();
        // SAFETY: our handler is installed for SIGINT, so this only records it.
        assert_eq!(unsafe { libc::raise(libc::SIGINT) }, 0);
        assert_eq!(received(), Some(libc::SIGINT));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        assert_eq!(rt.block_on(listener.wait()), libc::SIGINT);
        // The record outlives the handlers: a probe that passed afterwards cannot
        // lead to an exec.
        assert_eq!(restore_defaults(), Some(libc::SIGINT));
        assert_eq!(exit_code(libc::SIGTERM), 143);
        assert_eq!(name(libc::SIGQUIT), "SIGQUIT");
    }
}
