//! The OAuth2 token sources the IMAP logins of `kind: roundtrip` and `kind: reports` ask at
//! each run: `oauth2_token_file:` (re-read, so a refresh job can keep it fresh) and
//! `oauth2_token_command:` (run, its standard output is the token). The probes crate only sees
//! [`TokenSource`]; the file and process I/O is the app's. Both are bounded: the run's deadline
//! and [`MAX_TOKEN_BYTES`]. Errors name the file or the program, never what it held or printed.

use std::path::PathBuf;

use futures::future::BoxFuture;
use mailauth_probes::roundtrip::imap::TokenSource;
use mailauth_probes::{Deadline, Error, Secret};
use tokio::io::AsyncReadExt;

/// The most a token file or command may give. Bearer tokens are a few kilobytes; anything
/// longer is not one, and is not read into memory whole.
pub const MAX_TOKEN_BYTES: u64 = 64 << 10;

/// A token re-read from this file at each run.
#[derive(Debug, Clone)]
pub struct TokenFile(pub PathBuf);

/// A token printed by this command (argv, not empty) at each run.
#[derive(Debug, Clone)]
pub struct TokenCommand(pub Vec<String>);

impl TokenSource for TokenFile {
    fn token<'a>(&'a self, deadline: &'a Deadline) -> BoxFuture<'a, Result<Secret, Error>> {
        Box::pin(async move {
            let path = self.0.display();
            let read = async {
                let mut buf = Vec::new();
                tokio::fs::File::open(&self.0)
                    .await?
                    .take(MAX_TOKEN_BYTES + 1)
                    .read_to_end(&mut buf)
                    .await?;
                Ok::<_, std::io::Error>(buf)
            };
            let buf = deadline
                .run(read)
                .await
                .map_err(|_| {
                    Error::Token(format!(
                        "reading the OAuth2 token file `{path}` did not finish before the deadline"
                    ))
                })?
                .map_err(|e| {
                    Error::Token(format!("cannot read the OAuth2 token file `{path}`: {e}"))
                })?;
            if buf.len() as u64 > MAX_TOKEN_BYTES {
                return Err(Error::Token(format!(
                    "the OAuth2 token file `{path}` holds more than {} KiB",
                    MAX_TOKEN_BYTES >> 10
                )));
            }
            String::from_utf8(buf).map(Secret::new).map_err(|_| {
                Error::Token(format!(
                    "cannot read the OAuth2 token file `{path}`: stream did not contain valid UTF-8"
                ))
            })
        })
    }
}

impl TokenSource for TokenCommand {
    fn token<'a>(&'a self, deadline: &'a Deadline) -> BoxFuture<'a, Result<Secret, Error>> {
        Box::pin(async move {
            let (prog, args) = self
                .0
                .split_first()
                .ok_or_else(|| Error::Token("empty OAuth2 token command".into()))?;
            let run = async {
                let mut child = tokio::process::Command::new(prog)
                    .args(args)
                    .kill_on_drop(true)
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::null())
                    .spawn()?;
                let mut out = Vec::new();
                if let Some(stdout) = child.stdout.take() {
                    stdout
                        .take(MAX_TOKEN_BYTES + 1)
                        .read_to_end(&mut out)
                        .await?;
                }
                if out.len() as u64 > MAX_TOKEN_BYTES {
                    // Dropping the child kills it (kill_on_drop).
                    return Ok((None, out));
                }
                Ok::<_, std::io::Error>((Some(child.wait().await?), out))
            };
            let (status, out) = deadline
                .run(run)
                .await
                .map_err(|_| {
                    Error::Token(format!(
                        "the OAuth2 token command `{prog}` did not finish before the deadline"
                    ))
                })?
                .map_err(|e| {
                    Error::Token(format!("cannot run the OAuth2 token command `{prog}`: {e}"))
                })?;
            let Some(status) = status else {
                return Err(Error::Token(format!(
                    "the OAuth2 token command `{prog}` printed more than {} KiB",
                    MAX_TOKEN_BYTES >> 10
                )));
            };
            if !status.success() {
                return Err(Error::Token(format!(
                    "the OAuth2 token command `{prog}` failed ({status})"
                )));
            }
            String::from_utf8(out).map(Secret::new).map_err(|_| {
                Error::Token(format!(
                    "the OAuth2 token command `{prog}` printed non-UTF-8"
                ))
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn soon() -> Deadline {
        Deadline::after(Duration::from_secs(10))
    }

    fn sh(script: &str) -> TokenCommand {
        TokenCommand(vec!["sh".into(), "-c".into(), script.into()])
    }

    async fn err(source: &dyn TokenSource, deadline: &Deadline) -> String {
        source
            .token(deadline)
            .await
            .expect_err("must fail")
            .to_string()
    }

    #[tokio::test]
    async fn a_token_file_is_read_at_each_call() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "first\n").unwrap();
        let source = TokenFile(path.clone());
        assert_eq!(source.token(&soon()).await.unwrap().expose(), "first\n");
        std::fs::write(&path, "second\n").unwrap();
        assert_eq!(source.token(&soon()).await.unwrap().expose(), "second\n");
    }

    #[tokio::test]
    async fn token_file_errors_name_the_file_and_never_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.token");
        let e = err(&TokenFile(missing.clone()), &soon()).await;
        assert!(
            e.starts_with(&format!(
                "cannot read the OAuth2 token file `{}`: ",
                missing.display()
            )),
            "{e}"
        );
        let big = dir.path().join("big.token");
        std::fs::write(&big, "S3CRET".repeat(20_000)).unwrap();
        let e = err(&TokenFile(big), &soon()).await;
        assert!(e.contains("holds more than 64 KiB"), "{e}");
        assert!(!e.contains("S3CRET"), "{e}");
        let binary = dir.path().join("binary.token");
        std::fs::write(&binary, b"S3CRET\xff").unwrap();
        let e = err(&TokenFile(binary), &soon()).await;
        assert!(
            e.contains("not contain valid UTF-8") && !e.contains("S3CRET"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_token_command_gives_what_it_prints() {
        let t = sh("echo ya29.token").token(&soon()).await.unwrap();
        assert_eq!(t.expose(), "ya29.token\n");
    }

    #[tokio::test]
    async fn token_command_errors_name_the_program_and_never_its_output() {
        let e = err(&sh("echo S3CRET; exit 3"), &soon()).await;
        assert_eq!(e, "the OAuth2 token command `sh` failed (exit status: 3)");
        let e = err(&sh("yes S3CRET"), &soon()).await;
        assert_eq!(e, "the OAuth2 token command `sh` printed more than 64 KiB");
        let e = err(&sh("printf 'S3CRET\\377'"), &soon()).await;
        assert_eq!(e, "the OAuth2 token command `sh` printed non-UTF-8");
        let e = err(
            &TokenCommand(vec!["/nonexistent/token-helper".into()]),
            &soon(),
        )
        .await;
        assert!(
            e.starts_with("cannot run the OAuth2 token command `/nonexistent/token-helper`: "),
            "{e}"
        );
        let e = err(&TokenCommand(vec![]), &soon()).await;
        assert_eq!(e, "empty OAuth2 token command");
    }

    #[tokio::test]
    async fn a_token_command_stops_at_the_deadline() {
        let started = std::time::Instant::now();
        let deadline = Deadline::after(Duration::from_millis(300));
        let e = err(&sh("sleep 30"), &deadline).await;
        assert_eq!(
            e,
            "the OAuth2 token command `sh` did not finish before the deadline"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
