//! Configuration loading: layering, secrets from files, strictness, redaction, validation.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use sealpost_server::config::{self, Config, ConfigError, ConfigOverrides, LogFormat, Secret};

const SECRET: &str = "hunter2-very-secret";

fn env(vars: &[(&str, &str)]) -> Vec<(String, String)> {
    vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).expect("write test file");
    path
}

fn load_toml(toml: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "sealpost.toml", toml);
    config::load(Some(&file), env(vars), &ConfigOverrides::default())
}

fn err_text(result: Result<Config, ConfigError>) -> String {
    match result {
        Ok(cfg) => panic!("expected an error, got {cfg:?}"),
        Err(e) => e.to_string(),
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

#[test]
fn default_toml_parses_back_to_exactly_the_defaults() {
    let text = config::default_toml();
    let parsed = Config::from_toml_str(&text).expect("default_toml parses");
    assert_eq!(parsed, Config::default());
    // Every key is documented, secrets only as commented-out examples.
    for needle in [
        "\nlisten = \"127.0.0.1:8080\"",
        "\n# public_url = ",
        "\ntrusted_proxies = []",
        "\nheader_read_timeout_secs = 30",
        "\npart_size = 8388608",
        "\n# database_url = ",
        "\n# database_url_file = ",
        "\n# s3_secret_access_key_file = ",
        "\n# server_kek = ",
        "\nmax_recipients = 500",
        "\nformat = \"text\"",
        "\nlisten = \"127.0.0.1:9464\"",
    ] {
        assert!(text.contains(needle), "default_toml lacks {needle:?}:\n{text}");
    }
    for section in [
        "[server]",
        "[storage]",
        "[keys]",
        "[limits]",
        "[sweeper]",
        "[log]",
        "[metrics]",
    ] {
        assert!(text.contains(section));
    }
    // Through `load` as well (which resolves relative paths).
    let loaded = load_toml(&text, &[]).expect("load default_toml");
    let mut expected = Config::default();
    expected.storage.data_dir = std::path::absolute("./sealpost-data").expect("absolute");
    assert_eq!(loaded, expected);
}

#[test]
fn documented_defaults() {
    let cfg = Config::default();
    assert_eq!(cfg.server.listen, addr("127.0.0.1:8080"));
    assert_eq!(cfg.server.public_url, "http://127.0.0.1:8080");
    assert_eq!(cfg.server.header_read_timeout_secs, 30);
    assert_eq!(cfg.server.request_timeout_secs, 300);
    assert_eq!(cfg.server.max_json_bytes, 1 << 20);
    assert_eq!(cfg.storage.data_dir, PathBuf::from("./sealpost-data"));
    assert_eq!(cfg.storage.database_max_connections, 16);
    assert_eq!(cfg.storage.s3_region, "us-east-1");
    assert_eq!(cfg.storage.part_size, 8 << 20);
    assert_eq!(cfg.limits.max_payload_bytes, 64 << 30);
    assert_eq!(cfg.limits.org_quota_bytes, 1 << 40);
    assert_eq!(cfg.limits.sender_quota_messages, 100_000);
    assert_eq!(cfg.sweeper.abandon_after_hours, 48);
    assert_eq!(cfg.log.format, LogFormat::Text);
    assert_eq!(cfg.metrics.listen, Some(addr("127.0.0.1:9464")));
    cfg.validate().expect("defaults are valid");

    let other = Config::default_for("/srv/sp");
    assert_eq!(other.storage.data_dir, PathBuf::from("/srv/sp"));
    assert_eq!(other.database_url().expose(), "sqlite:///srv/sp/sealpost.db");
    assert_eq!(other.server_kek_file(), PathBuf::from("/srv/sp/server-kek"));
}

#[test]
fn layers_file_then_env_then_flags() {
    let toml = r#"
        [server]
        listen = "127.0.0.1:1000"
        [limits]
        max_recipients = 10
        max_payloads = 11
        [log]
        level = "debug"
    "#;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "c.toml", toml);

    let from_file = config::load(Some(&file), env(&[]), &ConfigOverrides::default()).expect("load");
    assert_eq!(from_file.server.listen, addr("127.0.0.1:1000"));
    assert_eq!(from_file.limits.max_recipients, 10);

    let vars = [
        ("SEALPOST_SERVER_LISTEN", "127.0.0.1:2000"),
        ("SEALPOST_LIMITS_MAX_RECIPIENTS", "20"),
    ];
    let with_env = config::load(Some(&file), env(&vars), &ConfigOverrides::default()).expect("load");
    assert_eq!(with_env.server.listen, addr("127.0.0.1:2000"));
    assert_eq!(with_env.limits.max_recipients, 20);
    assert_eq!(with_env.limits.max_payloads, 11, "untouched file value stays");
    assert_eq!(with_env.log.level, "debug");

    let flags = ConfigOverrides {
        listen: Some(addr("127.0.0.1:3000")),
        log_format: Some(LogFormat::Json),
        ..ConfigOverrides::default()
    };
    let with_flags = config::load(Some(&file), env(&vars), &flags).expect("load");
    assert_eq!(with_flags.server.listen, addr("127.0.0.1:3000"));
    assert_eq!(with_flags.limits.max_recipients, 20);
    assert_eq!(with_flags.log.format, LogFormat::Json);
    // public_url is derived from the final listen address.
    assert_eq!(with_flags.server.public_url, "http://127.0.0.1:3000");
}

#[test]
fn env_lists_booleans_and_optional_values() {
    let cfg = load_toml(
        "",
        &[
            ("SEALPOST_SERVER_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.1 ,::1"),
            ("SEALPOST_STORAGE_S3_ALLOW_HTTP", "true"),
            ("SEALPOST_STORAGE_S3_ENDPOINT", "http://127.0.0.1:9000"),
            ("SEALPOST_METRICS_LISTEN", "off"),
            ("SEALPOST_LOG_FORMAT", "json"),
        ],
    )
    .expect("load");
    let nets: Vec<String> = cfg.server.trusted_proxies.iter().map(ToString::to_string).collect();
    assert_eq!(nets, ["10.0.0.0/8", "192.168.1.1/32", "::1/128"]);
    assert!(cfg.storage.s3_allow_http);
    assert_eq!(cfg.metrics.listen, None);
    assert_eq!(cfg.log.format, LogFormat::Json);

    let msg = err_text(load_toml("", &[("SEALPOST_LIMITS_MAX_RECIPIENTS", "many")]));
    assert!(
        msg.contains("SEALPOST_LIMITS_MAX_RECIPIENTS") && msg.contains("\"many\""),
        "{msg}"
    );
}

#[test]
fn database_url_precedence() {
    let file_url = "postgres://file@db/sp";
    let toml = format!("[storage]\ndatabase_url = \"{file_url}\"\n");
    let cfg = load_toml(&toml, &[]).expect("load");
    assert_eq!(cfg.database_url().expose(), file_url);

    let cfg = load_toml(&toml, &[("DATABASE_URL", "postgres://conventional@db/sp")]).expect("load");
    assert_eq!(
        cfg.database_url().expose(),
        "postgres://conventional@db/sp",
        "DATABASE_URL beats the file"
    );

    let cfg = load_toml(
        &toml,
        &[
            ("SEALPOST_STORAGE_DATABASE_URL", "postgres://specific@db/sp"),
            ("DATABASE_URL", "postgres://conventional@db/sp"),
        ],
    )
    .expect("load");
    assert_eq!(
        cfg.database_url().expose(),
        "postgres://specific@db/sp",
        "SEALPOST_ beats DATABASE_URL"
    );

    let flags = ConfigOverrides {
        database_url: Some(Secret::new("sqlite:///tmp/flag.db".to_owned())),
        ..ConfigOverrides::default()
    };
    let cfg = config::load(
        None,
        env(&[("SEALPOST_STORAGE_DATABASE_URL", "postgres://specific@db/sp")]),
        &flags,
    )
    .expect("load");
    assert_eq!(cfg.database_url().expose(), "sqlite:///tmp/flag.db");
}

#[test]
fn derived_defaults_follow_data_dir_and_relative_paths_resolve() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("with space");
    let cfg = load_toml("", &[("SEALPOST_STORAGE_DATA_DIR", data.to_str().expect("utf-8"))]).expect("load");
    assert_eq!(cfg.storage.data_dir, data);
    assert_eq!(
        cfg.database_url().expose(),
        format!("sqlite://{}/with%20space/sealpost.db", dir.path().display())
    );
    assert_eq!(cfg.server_kek_file(), data.join("server-kek"));
    assert_eq!(
        cfg.storage.blob_url, None,
        "the blob store default stays <data_dir>/blobs"
    );

    let cfg = load_toml(
        "[storage]\ndata_dir = \"rel/dir\"\n[server]\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n",
        &[],
    )
    .expect("load");
    let cwd = std::env::current_dir().expect("cwd");
    assert_eq!(cfg.storage.data_dir, cwd.join("rel/dir"));
    assert_eq!(cfg.server.tls_cert, Some(cwd.join("c.pem")));
    assert_eq!(
        cfg.server.public_url, "https://127.0.0.1:8080",
        "TLS makes the derived public URL https"
    );
}

#[test]
fn secrets_from_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = write(dir.path(), "db", &format!("postgres://sp:{SECRET}@db/sp\n"));
    let key = write(dir.path(), "key", "AKIDEXAMPLE\r\n");

    let toml = format!("[storage]\ndatabase_url_file = \"{}\"\n", db.display());
    let cfg = load_toml(
        &toml,
        &[("SEALPOST_STORAGE_S3_ACCESS_KEY_ID_FILE", key.to_str().expect("utf-8"))],
    )
    .expect("load");
    assert_eq!(
        cfg.database_url().expose(),
        format!("postgres://sp:{SECRET}@db/sp"),
        "one newline trimmed"
    );
    assert_eq!(
        cfg.storage.s3_access_key_id.as_ref().map(Secret::expose),
        Some("AKIDEXAMPLE")
    );

    // A file in the environment overrides a value from the file layer.
    let cfg = load_toml(
        "[storage]\ndatabase_url = \"sqlite:///x.db\"\n",
        &[("SEALPOST_STORAGE_DATABASE_URL_FILE", db.to_str().expect("utf-8"))],
    )
    .expect("load");
    assert!(cfg.database_url().expose().starts_with("postgres://"));

    // A missing file names the file and the error.
    let msg = err_text(load_toml(
        "",
        &[("SEALPOST_STORAGE_DATABASE_URL_FILE", "/nonexistent/sp-secret")],
    ));
    assert!(msg.contains("/nonexistent/sp-secret"), "{msg}");
}

#[test]
fn value_and_file_together_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = write(dir.path(), "db", "postgres://a@b/c\n");
    let toml = format!(
        "[storage]\ndatabase_url = \"sqlite:///x.db\"\ndatabase_url_file = \"{}\"\n",
        db.display()
    );
    let msg = err_text(load_toml(&toml, &[]));
    assert!(
        msg.contains("storage.database_url") && msg.contains("not both"),
        "{msg}"
    );

    let msg = err_text(load_toml(
        "",
        &[
            ("SEALPOST_STORAGE_S3_SECRET_ACCESS_KEY", SECRET),
            (
                "SEALPOST_STORAGE_S3_SECRET_ACCESS_KEY_FILE",
                db.to_str().expect("utf-8"),
            ),
        ],
    ));
    assert!(
        msg.contains("SEALPOST_STORAGE_S3_SECRET_ACCESS_KEY_FILE") && msg.contains("not both"),
        "{msg}"
    );
    assert!(!msg.contains(SECRET));
}

#[test]
fn unknown_toml_keys_and_sections_are_errors_naming_them() {
    let msg = err_text(load_toml("[server]\nlisen = \"127.0.0.1:1\"\n", &[]));
    assert!(
        msg.contains("server.lisen") && msg.contains("did you mean `listen`"),
        "{msg}"
    );

    let msg = err_text(load_toml("[sever]\nlisten = \"127.0.0.1:1\"\n", &[]));
    assert!(msg.contains("`sever`") && msg.contains("[server]"), "{msg}");

    let msg = err_text(load_toml("listen = \"127.0.0.1:1\"\n", &[]));
    assert!(msg.contains("`listen`"), "{msg}");

    // server_kek has no generic _file variant: keys.server_kek_file is the key file itself.
    let cfg = load_toml("[keys]\nserver_kek_file = \"/k\"\n", &[]).expect("load");
    assert_eq!(cfg.server_kek_file(), PathBuf::from("/k"));

    let msg = err_text(load_toml("[server]\nlisten = 8080\n", &[]));
    assert!(
        msg.contains("server.listen") && msg.contains("expected a string"),
        "{msg}"
    );
}

#[test]
fn unknown_sealpost_variables_are_errors_naming_them() {
    let msg = err_text(load_toml("", &[("SEALPOST_SERVER_LISTN", "127.0.0.1:1")]));
    assert!(
        msg.contains("SEALPOST_SERVER_LISTN") && msg.contains("did you mean SEALPOST_SERVER_LISTEN"),
        "{msg}"
    );

    let msg = err_text(load_toml(
        "",
        &[("SEALPOST_STORAGE_PART_SIZE_FILE", "/x"), ("SEALPOST_NOPE", "1")],
    ));
    assert!(
        msg.contains("SEALPOST_STORAGE_PART_SIZE_FILE") && msg.contains("SEALPOST_NOPE"),
        "{msg}"
    );

    // Other tools' variables and unrelated variables are ignored.
    load_toml(
        "",
        &[
            ("SEALPOST_CONFIG", "/etc/sealpost.toml"),
            ("SEALPOST_PASSWORD", "x"),
            ("SEALPOST_BENCH_MIB", "1"),
            ("HOME", "/root"),
        ],
    )
    .expect("tolerated variables");
}

#[test]
fn secrets_never_appear_in_debug_effective_toml_or_errors() {
    let pg = format!("postgres://sealpost:{SECRET}@db.example.com/sp");
    let cfg = load_toml(
        "",
        &[
            ("SEALPOST_STORAGE_DATABASE_URL", &pg),
            ("SEALPOST_STORAGE_S3_ACCESS_KEY_ID", SECRET),
            ("SEALPOST_STORAGE_S3_SECRET_ACCESS_KEY", SECRET),
            ("SEALPOST_KEYS_SERVER_KEK", SECRET),
        ],
    )
    .expect("load");
    let debug = format!("{cfg:?} {cfg:#?}");
    assert!(!debug.contains(SECRET), "{debug}");
    let effective = cfg.effective_toml();
    assert!(!effective.contains(SECRET), "{effective}");
    assert!(effective.contains("database_url = \"<redacted>\""), "{effective}");
    assert!(effective.contains("server_kek = \"<redacted>\""), "{effective}");
    let flags = ConfigOverrides {
        database_url: Some(Secret::new(pg.clone())),
        ..ConfigOverrides::default()
    };
    assert!(!format!("{flags:?}").contains(SECRET));

    // Invalid secrets are reported without their value.
    let msg = err_text(load_toml(
        "",
        &[("SEALPOST_STORAGE_DATABASE_URL", &format!("mysql://u:{SECRET}@h/d"))],
    ));
    assert!(msg.contains("storage.database_url") && !msg.contains(SECRET), "{msg}");

    // A TOML syntax error on a secret's line does not quote the line.
    let msg = err_text(load_toml(&format!("[storage]\ndatabase_url = \"{pg}\n"), &[]));
    assert!(msg.contains("line 2") && !msg.contains(SECRET), "{msg}");
}

#[test]
fn effective_toml_shows_resolved_values() {
    let cfg = Config::default_for("/srv/sp");
    let text = cfg.effective_toml();
    assert!(
        text.contains("database_url = \"sqlite:///srv/sp/sealpost.db\""),
        "{text}"
    );
    assert!(text.contains("server_kek_file = \"/srv/sp/server-kek\""), "{text}");
    assert!(text.contains("blob_url = \"file:///srv/sp/blobs\""), "{text}");
    assert!(text.contains("public_url = \"http://127.0.0.1:8080\""), "{text}");
    assert!(text.contains("# tls_cert is not set"), "{text}");
    text.parse::<toml::Table>().expect("effective_toml is valid TOML");
}

#[test]
fn validation_messages() {
    let msg = err_text(load_toml("[storage]\npart_size = 1000\n", &[]));
    assert!(
        msg.contains("storage.part_size must be at least 5242880 bytes (S3's minimum part size), got 1000"),
        "{msg}"
    );
    let msg = err_text(load_toml("[storage]\npart_size = 6000000000\n", &[]));
    assert!(
        msg.contains("storage.part_size must be at most 5368709120 bytes"),
        "{msg}"
    );

    let msg = err_text(load_toml("[server]\ntls_cert = \"/c.pem\"\n", &[]));
    assert!(
        msg.contains("server.tls_cert is set but server.tls_key is not"),
        "{msg}"
    );

    let msg = err_text(load_toml(
        "[server]\nheader_read_timeout_secs = 0\nrequest_timeout_secs = 0\n",
        &[],
    ));
    assert!(
        msg.contains("server.header_read_timeout_secs must be positive, got 0"),
        "{msg}"
    );
    assert!(
        msg.contains("server.request_timeout_secs must be positive, got 0"),
        "{msg}"
    );

    for bad in [
        "ftp://x",
        "https://x/?a=1",
        "https://x/#frag",
        "https://",
        "sealpost.example.com",
    ] {
        let msg = err_text(load_toml(&format!("[server]\npublic_url = \"{bad}\"\n"), &[]));
        assert!(msg.contains("server.public_url"), "{bad}: {msg}");
    }
    load_toml("[server]\npublic_url = \"https://sealpost.example.com/base\"\n", &[]).expect("valid public_url");

    let msg = err_text(load_toml("[storage]\ndatabase_url = \"mysql://x\"\n", &[]));
    assert!(
        msg.contains("storage.database_url must start with sqlite: or postgres://"),
        "{msg}"
    );
    for ok in ["sqlite:///var/sp.db", "postgres://h/d", "postgresql://h/d"] {
        load_toml(&format!("[storage]\ndatabase_url = \"{ok}\"\n"), &[]).expect(ok);
    }

    for bad in ["file://relative/dir", "s3://", "http://bucket", "/abs/dir"] {
        let msg = err_text(load_toml(&format!("[storage]\nblob_url = \"{bad}\"\n"), &[]));
        assert!(
            msg.contains("storage.blob_url must be file:///absolute/directory or s3://bucket"),
            "{bad}: {msg}"
        );
    }
    for ok in ["file:///var/blobs", "s3://bucket", "s3://bucket/prefix"] {
        load_toml(&format!("[storage]\nblob_url = \"{ok}\"\n"), &[]).expect(ok);
    }

    let msg = err_text(load_toml("[storage]\ns3_endpoint = \"http://minio:9000\"\n", &[]));
    assert!(msg.contains("s3_allow_http is false"), "{msg}");

    let msg = err_text(load_toml("[log]\nformat = \"xml\"\n", &[]));
    assert!(msg.contains("log.format") && msg.contains("\"xml\""), "{msg}");

    let msg = err_text(load_toml("[limits]\nmax_recipients = -1\n", &[]));
    assert!(
        msg.contains("limits.max_recipients") && msg.contains("non-negative"),
        "{msg}"
    );

    // Several problems are reported together.
    let msg = err_text(load_toml(
        "[sweeper]\ninterval_secs = 0\n[limits]\nmax_payloads = 0\n",
        &[],
    ));
    assert!(
        msg.contains("sweeper.interval_secs") && msg.contains("limits.max_payloads"),
        "{msg}"
    );
}

#[test]
fn missing_config_file_names_it() {
    let msg = err_text(config::load(
        Some(Path::new("/nonexistent/sealpost.toml")),
        env(&[]),
        &ConfigOverrides::default(),
    ));
    assert!(msg.contains("/nonexistent/sealpost.toml"), "{msg}");
}
