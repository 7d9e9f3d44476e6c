//! `tablesafe`: the command-line front of TableSafe. It parses arguments, sets up
//! logging, runs one command, and turns errors into a one-line cause, a hint and an
//! exit code. All real work lives in the library crates.

mod args;
mod cmd;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = args::Cli::parse();
    args::init_logging(&args.log);
    let result = match args.command {
        args::Command::Serve(serve) => cmd::serve::run(serve),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            if let Some(hint) = cmd::hint_for(&error) {
                eprintln!("hint: {hint}");
            }
            ExitCode::FAILURE
        }
    }
}
