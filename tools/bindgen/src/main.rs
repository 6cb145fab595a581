//! `oauth-vault-bindgen WASM OUT_DIR NAME`: writes `NAME.js` and
//! `NAME_bg.wasm` into OUT_DIR from the client's WASM, as
//! `wasm-bindgen --target web --no-typescript --out-name NAME --out-dir
//! OUT_DIR WASM` does with the same version of wasm-bindgen. A build of its
//! own, locked by the project's `Cargo.lock`, rather than that command
//! installed from source: it compiles only the generator, not the command's
//! test runner and its HTTP stacks, in about half the time.

use std::process::ExitCode;
use wasm_bindgen_cli_support::Bindgen;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, out_dir, name] = args.as_slice() else {
        eprintln!("usage: oauth-vault-bindgen WASM OUT_DIR NAME");
        return ExitCode::from(2);
    };
    match generate(input, out_dir, name) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("oauth-vault-bindgen: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The options `wasm-bindgen` passes for `--target web --no-typescript`
/// and nothing else: the same output, byte for byte.
fn generate(input: &str, out_dir: &str, name: &str) -> anyhow::Result<()> {
    let mut bindgen = Bindgen::new();
    // `reference_types` is deprecated, but wasm-bindgen passes it (false)
    #[allow(deprecated)]
    bindgen
        .input_path(input)
        .web(true)?
        .debug(false)
        .demangle(true)
        .keep_lld_exports(false)
        .keep_debug(false)
        .split_debug_info(false)
        .remove_name_section(false)
        .remove_producers_section(false)
        .typescript(false)
        .omit_imports(false)
        .omit_default_module_path(false)
        .split_linked_modules(false)
        .js_string_builtins(false)
        .ts_typed_array_buffers(false)
        .reference_types(false)
        .reset_state_function(false)
        .force_enable_abort_handler(false)
        .out_name(name);
    bindgen.generate(out_dir)
}
