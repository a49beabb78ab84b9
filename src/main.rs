//! Thin entry point: everything lives in the library so tests can drive it (`rbench::run`).

fn main() {
    std::process::exit(rbench::run(std::env::args_os()));
}
