//! The `resloop` command line: a thin layer over the library.

mod cli;

fn main() {
    restore_default_sigpipe();
    if let Err(e) = cli::run() {
        eprintln!("error: {}", cli::message(&e));
        std::process::exit(1);
    }
}

/// Rust ignores SIGPIPE, so `resloop ... | head` would panic on the first write after
/// `head` exits. A command-line tool should end quietly instead, as `cat` does.
fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: setting a signal disposition to its default at start-up, before any
    // thread exists, has no preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
