//! nginx (Debian's package) in front of real `sealpost-server` replicas, for `tests/ha.rs` and
//! `benches/release_ha.rs`: one foreground process (`master_process off`) with everything under
//! a temporary prefix, balancing round-robin over the upstreams it is given.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// An executable called `name` on `PATH`, or in `/usr/sbin` or `/sbin` (where Debian puts nginx).
pub fn find_program(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|dir| dir.join(name))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// How the balancer treats a failing upstream.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Balancing {
    /// As in `deploy/compose/nginx.conf`: passive failover (`max_fails=1 fail_timeout=2s`), a
    /// request that cannot reach an upstream goes to the next one, and an access log is kept.
    Failover,
    /// For measuring: no access log, more connections and keep-alive, no failover settings.
    Throughput,
}

pub struct Nginx {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The prefix: `nginx.conf` and `logs/` (`error.log`, `access.log`, `startup.log`).
    pub dir: PathBuf,
}

impl Nginx {
    /// Starts nginx on `127.0.0.1:port` in front of `upstreams` (`host:port` each).
    pub fn start(program: &Path, dir: &Path, port: u16, upstreams: &[String], balancing: Balancing) -> Nginx {
        std::fs::create_dir_all(dir.join("logs")).unwrap();
        let d = dir.display();
        let server_options = match balancing {
            Balancing::Failover => " max_fails=1 fail_timeout=2s",
            Balancing::Throughput => "",
        };
        let servers: String = upstreams
            .iter()
            .map(|u| format!("    server {u}{server_options};\n"))
            .collect();
        let (error_level, access_log, connections, keepalive) = match balancing {
            Balancing::Failover => ("info", format!("{d}/logs/access.log"), 512, 16),
            Balancing::Throughput => ("warn", "off".to_owned(), 4096, 128),
        };
        let failover = match balancing {
            Balancing::Failover => {
                "      proxy_next_upstream error timeout http_502 http_503;
      proxy_next_upstream_tries 2;
      proxy_connect_timeout 2s;
      proxy_read_timeout 60s;
"
            }
            Balancing::Throughput => "",
        };
        let conf = format!(
            r#"worker_processes 1;
master_process off;
pid {d}/nginx.pid;
error_log {d}/logs/error.log {error_level};
events {{ worker_connections {connections}; }}
http {{
  access_log {access_log};
  client_body_temp_path {d}/client_body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  client_max_body_size 0;
  upstream sealpost {{
{servers}    keepalive {keepalive};
  }}
  server {{
    listen 127.0.0.1:{port} backlog=1024;
    keepalive_requests 100000;
    location / {{
      proxy_pass http://sealpost;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
{failover}    }}
  }}
}}
"#
        );
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new(program)
            .arg("-e")
            .arg(dir.join("logs/startup.log"))
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&conf_path)
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
        Nginx {
            child,
            base: format!("http://127.0.0.1:{port}"),
            dir: dir.to_owned(),
        }
    }

    /// Waits until `/healthz` answers 200 through nginx; panics with nginx's error log if it
    /// exits, or after 20 s.
    pub async fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let log = std::fs::read_to_string(self.dir.join("logs/error.log")).unwrap_or_default();
                let startup = std::fs::read_to_string(self.dir.join("logs/startup.log")).unwrap_or_default();
                panic!("nginx exited ({status}):\n{startup}{log}");
            }
            if let Ok(r) = reqwest::get(format!("{}/healthz", self.base)).await
                && r.status() == 200
            {
                return;
            }
            assert!(Instant::now() < deadline, "nginx did not answer within 20 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// nginx's error log so far.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("logs/error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
