//! Load generators: `keel bench <protocol>` drives a broker over the network and reports what
//! it measured, so Keel can be compared with other brokers on the same machine in the same run.
//!
//! Real sockets and real time only: a simulation build (`--cfg madsim`) has no network to
//! measure, so this module is left out of it (as the binary's command line is).

#![cfg(not(madsim))]

/// Writes report text on stdout like `print!`, but a closed stdout (`keel bench ... | head`)
/// ends the report quietly instead of panicking: the bench's outcome stands.
macro_rules! report_out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

/// [`report_out!`] with a newline, like `println!`.
macro_rules! report_line {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

pub mod kafka;
pub mod mqtt;
