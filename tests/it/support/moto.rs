//! `moto_server` (PyPI `moto[server]`) on a free loopback port, for S3 and STS;
//! killed when dropped. Also runs boto3 (which moto installs) as a second opinion
//! on what the AWS SDKs resolve from an environment.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Moto {
    child: Child,
    pub port: u16,
}

impl Moto {
    pub fn start() -> Moto {
        Moto::spawn(&[], &[])
    }

    /// moto that checks signatures and IAM policies once `free_requests` requests
    /// have been served without (moto's `INITIAL_NO_AUTH_ACTION_COUNT`), so a test
    /// can create users and keys first and then see real `SignatureDoesNotMatch`.
    pub fn start_with_auth(free_requests: u32) -> Moto {
        Moto::spawn(
            &[],
            &[("INITIAL_NO_AUTH_ACTION_COUNT", &free_requests.to_string())],
        )
    }

    /// moto over HTTPS with the given certificate and key files.
    pub fn start_tls(cert: &std::path::Path, key: &std::path::Path) -> Moto {
        Moto::spawn(
            &["-c", cert.to_str().unwrap(), "-k", key.to_str().unwrap()],
            &[],
        )
    }

    fn spawn(extra: &[&str], env: &[(&str, &str)]) -> Moto {
        let port = super::pg::free_port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .args(extra)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "moto_server is not installed: `.ci/run` installs it (pip install 'moto[server]')",
            );
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Moto { child, port }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates a bucket with a plain path-style PUT (moto does not check signatures).
    /// moto's development server can reset a connection while a loaded machine
    /// starts it up; the PUT is idempotent, so it is tried a few times.
    pub fn create_bucket(&self, name: &str) {
        let put = || -> std::io::Result<String> {
            let mut s = TcpStream::connect(("127.0.0.1", self.port))?;
            write!(s, "PUT /{name} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", self.port)?;
            let mut resp = String::new();
            s.read_to_string(&mut resp)?;
            Ok(resp)
        };
        let mut last = None;
        for _ in 0..5 {
            match put() {
                Ok(resp) => {
                    assert!(resp.starts_with("HTTP/1.1 200"), "create bucket: {resp}");
                    return;
                }
                Err(e) => {
                    last = Some(e);
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
            }
        }
        panic!("create bucket `{name}` at moto: {last:?}");
    }
}

/// Runs `script` with boto3 under exactly `env` (plus PATH and loopback-only AWS
/// settings) and returns its stdout, or `None` when boto3 is not installed. The
/// script's last line of output is what the caller compares.
pub fn boto3(script: &str, env: &[(&str, &str)]) -> Option<Result<String, String>> {
    let path = std::env::var("PATH").unwrap_or_default();
    let probe = Command::new("python3")
        .args(["-c", "import boto3"])
        .env("PATH", &path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?;
    if !probe.success() {
        return None;
    }
    let out = Command::new("python3")
        .args(["-c", script])
        .env_clear()
        .env("PATH", path)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().copied())
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Some(if out.status.success() {
        Ok(stdout)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    })
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
