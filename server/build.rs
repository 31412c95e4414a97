//! Embeds the browser WebAssembly module when it has been built.
//!
//! `client-web/build-wasm.sh` (run by `./scripts/run.sh` and the test
//! command) writes `client-web/wasm/pkg/`. When those files exist this sets
//! `cfg(alcove_wasm_pkg)` and `web.rs` serves them with `include_bytes!`;
//! otherwise the server still builds and `/wasm/*` answers 503 with a
//! message saying how to build the module.

use std::path::Path;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(alcove_wasm_pkg)");
    let pkg = Path::new(env!("CARGO_MANIFEST_DIR")).join("../client-web/wasm/pkg");
    let js = pkg.join("alcove_wasm.js");
    let wasm = pkg.join("alcove_wasm_bg.wasm");
    // Re-run when the module is (re)built or removed.
    println!("cargo::rerun-if-changed={}", js.display());
    println!("cargo::rerun-if-changed={}", wasm.display());
    println!("cargo::rerun-if-changed={}", pkg.display());
    if js.is_file() && wasm.is_file() {
        println!("cargo::rustc-cfg=alcove_wasm_pkg");
    } else {
        println!(
            "cargo::warning=client-web/wasm/pkg is not built: /wasm/* will answer 503 and messaging in the browser will not work. Run `bash client-web/build-wasm.sh` (./scripts/run.sh does) and rebuild."
        );
    }
}
