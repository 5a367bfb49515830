//! Cargo build script: forwards what nginx-sys detected about the nginx tree we build
//! against (features, OS, version) as `cfg`s, the way the `ngx` crate's own build script does.
//! The nginx tree itself is built by `build/nginx` and named by `NGINX_BUILD_DIR`.

fn main() {
    println!("cargo::rerun-if-env-changed=NGINX_BUILD_DIR");

    for (var, cfg) in [
        ("DEP_NGINX_FEATURES", "ngx_feature"),
        ("DEP_NGINX_OS", "ngx_os"),
    ] {
        println!("cargo::rerun-if-env-changed={var}");
        println!("cargo::rerun-if-env-changed={var}_CHECK");
        let check = std::env::var(format!("{var}_CHECK")).unwrap_or_else(|_| "any()".into());
        println!("cargo::rustc-check-cfg=cfg({cfg}, values({check}))");
        if let Ok(values) = std::env::var(var) {
            for value in values.split(',').map(str::trim).filter(|v| !v.is_empty()) {
                println!("cargo::rustc-cfg={cfg}=\"{value}\"");
            }
        }
    }
}
