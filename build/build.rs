//! Cargo build script: forwards what nginx-sys detected about the nginx tree we build
//! against (features, OS, version) as `cfg`s, the way the `ngx` crate's own build script does.
//! The nginx tree itself is built by `build/nginx` and named by `NGINX_BUILD_DIR`.

fn main() {
    println!("cargo::rerun-if-env-changed=NGINX_BUILD_DIR");
    git_commit();

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

fn git(args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    out.status.success().then(|| text.trim().to_owned())
}

/// The commit the metrics' `ngx_music_build_info` reports (none outside a git checkout, as in
/// a Docker build context without `.git`); rebuilt when HEAD or its branch moves.
fn git_commit() {
    let Some(commit) = git(&["rev-parse", "--short=12", "HEAD"]) else {
        return;
    };
    println!("cargo::rustc-env=NGX_MUSIC_GIT_COMMIT={commit}");
    for path in [
        git(&["rev-parse", "--git-path", "HEAD"]),
        git(&["symbolic-ref", "-q", "HEAD"]).and_then(|r| git(&["rev-parse", "--git-path", &r])),
    ]
    .into_iter()
    .flatten()
    {
        println!("cargo::rerun-if-changed={path}");
    }
}
