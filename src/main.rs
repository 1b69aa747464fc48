//! The `keel` binary.

#[cfg(not(madsim))]
mod cli;

#[cfg(not(madsim))]
fn main() -> std::process::ExitCode {
    cli::main()
}

/// A simulation build (`--cfg madsim`) has no real I/O to run a node with.
#[cfg(madsim)]
fn main() -> std::process::ExitCode {
    eprintln!("keel: this binary was built for simulation (--cfg madsim); build it without that flag");
    std::process::ExitCode::FAILURE
}
