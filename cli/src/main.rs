//! The `omnisession` admin command: everything is in the library, so that the Node and Python
//! packages run the very same command.

fn main() {
    // An operator sees one line, never a backtrace (the library turns a panic into exit 4).
    std::panic::set_hook(Box::new(|info| {
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("omnisession: internal error{place}");
    }));
    std::process::exit(omnisession_cli::run(std::env::args()));
}
