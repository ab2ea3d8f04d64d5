//! WebAssembly bindings of `sealpost-crypto` for the recipient page (issue #4 builds the page).
