//! Renders a run's report: `cargo run -p reports --example render -- RUN_DIR`.
//! With `--serve STORE [ADDR]` serves a store instead (default 127.0.0.1:8080).
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--serve") => {
            let store = args.get(1).expect("--serve STORE [ADDR]");
            let addr = args
                .get(2)
                .map(String::as_str)
                .unwrap_or("127.0.0.1:8080")
                .parse()
                .expect("ADDR");
            eprintln!("serving {store} on http://{addr}/");
            if let Err(e) = reports::serve(std::path::Path::new(store), addr) {
                eprintln!("error: {e}");
                std::process::exit(255);
            }
        }
        Some(dir) => match reports::render_run(std::path::Path::new(dir)) {
            Ok(p) => println!("{}", p.display()),
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(255);
            }
        },
        None => {
            eprintln!("usage: render RUN_DIR | --serve STORE [ADDR]");
            std::process::exit(2);
        }
    }
}
