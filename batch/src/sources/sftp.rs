//! An SFTP drop read as a real SFTP client (russh + russh-sftp): the drop is
//! another host in production, so nothing here touches a local directory.
//! One SSH connection per poll; a lost one fails the poll, and the job
//! resumes at its checkpoint on the next.

use std::sync::Arc;

use russh::client;
use russh::keys::{load_secret_key, PrivateKeyWithHashAlg};
use russh_sftp::client::fs::File;
use russh_sftp::client::SftpSession;
use tokio::io::AsyncWriteExt;

use super::{Listed, SourceError};
use crate::config::SftpConfig;

/// Accepts only the host key recorded in the configured known_hosts file.
struct KnownHost {
    host: String,
    port: u16,
    known_hosts: std::path::PathBuf,
}

impl client::Handler for KnownHost {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &russh::keys::ssh_key::PublicKey,
    ) -> Result<bool, Self::Error> {
        Ok(
            russh::keys::check_known_hosts_path(&self.host, self.port, key, &self.known_hosts)
                .unwrap_or(false),
        )
    }
}

pub struct Sftp {
    pub cfg: SftpConfig,
    session: SftpSession,
    _handle: client::Handle<KnownHost>,
}

/// A result file on its way to results/.
pub struct Writing {
    file: File,
    tmp: String,
    dst: String,
}

impl Writing {
    pub async fn write(&mut self, data: &[u8]) -> Result<(), SourceError> {
        self.file.write_all(data).await.map_err(io_err)
    }
}

fn io_err(e: std::io::Error) -> SourceError {
    SourceError::Io(e.to_string())
}

fn sftp_err(e: russh_sftp::client::error::Error) -> SourceError {
    SourceError::Io(e.to_string())
}

impl Sftp {
    pub async fn connect(cfg: &SftpConfig) -> Result<Sftp, SourceError> {
        let key = load_secret_key(&cfg.key, None)
            .map_err(|e| SourceError::Config(format!("key {}: {e}", cfg.key.display())))?;
        let config = Arc::new(client::Config {
            inactivity_timeout: Some(std::time::Duration::from_secs(60)),
            ..Default::default()
        });
        let handler = KnownHost {
            host: cfg.host.clone(),
            port: cfg.port,
            known_hosts: cfg.known_hosts.clone(),
        };
        let mut handle = client::connect(config, (cfg.host.as_str(), cfg.port), handler)
            .await
            .map_err(|e| SourceError::Io(format!("ssh connect {}:{}: {e}", cfg.host, cfg.port)))?;
        let auth = handle
            .authenticate_publickey(
                cfg.user.clone(),
                PrivateKeyWithHashAlg::new(Arc::new(key), None),
            )
            .await
            .map_err(|e| SourceError::Io(e.to_string()))?;
        if !auth.success() {
            return Err(SourceError::Config(format!(
                "the SFTP server refused the key of {}",
                cfg.user
            )));
        }
        let channel = handle
            .channel_open_session()
            .await
            .map_err(|e| SourceError::Io(e.to_string()))?;
        channel
            .request_subsystem(true, "sftp")
            .await
            .map_err(|e| SourceError::Io(e.to_string()))?;
        let session = SftpSession::new(channel.into_stream())
            .await
            .map_err(sftp_err)?;
        Ok(Sftp {
            cfg: cfg.clone(),
            session,
            _handle: handle,
        })
    }

    fn path(dir: &str, name: &str) -> String {
        format!("{}/{name}", dir.trim_end_matches('/'))
    }

    pub async fn list(&self) -> Result<Vec<Listed>, SourceError> {
        let dir = self
            .session
            .read_dir(&self.cfg.dirs.incoming)
            .await
            .map_err(sftp_err)?;
        Ok(dir
            .filter(|e| e.file_type().is_file())
            .map(|e| Listed {
                size: e.metadata().size.unwrap_or(0),
                name: e.file_name(),
            })
            .collect())
    }

    /// The input, to be read as a stream.
    pub async fn open(&self, name: &str) -> Result<File, SourceError> {
        self.session
            .open(Self::path(&self.cfg.dirs.incoming, name))
            .await
            .map_err(sftp_err)
    }

    pub async fn put_result(&self, name: &str, data: &[u8]) -> Result<(), SourceError> {
        let mut w = self.create_result(name).await?;
        w.write(data).await?;
        self.finish_result(w).await
    }

    /// A result file being written: under a temporary name, renamed by
    /// `finish_result`, so a reader never sees half.
    pub async fn create_result(&self, name: &str) -> Result<Writing, SourceError> {
        let tmp = Self::path(&self.cfg.dirs.results, &format!(".{name}.part"));
        let dst = Self::path(&self.cfg.dirs.results, name);
        let file = self.session.create(&tmp).await.map_err(sftp_err)?;
        Ok(Writing { file, tmp, dst })
    }

    pub async fn finish_result(&self, mut w: Writing) -> Result<(), SourceError> {
        w.file.shutdown().await.map_err(io_err)?;
        self.replace(&w.tmp, &w.dst).await
    }

    /// Renames `from` to `to`, replacing `to` (SFTP v3 rename refuses an
    /// existing target).
    async fn replace(&self, from: &str, to: &str) -> Result<(), SourceError> {
        if self.session.try_exists(to).await.map_err(sftp_err)? {
            self.session.remove_file(to).await.map_err(sftp_err)?;
        }
        self.session.rename(from, to).await.map_err(sftp_err)
    }

    pub async fn archive(&self, name: &str, failed: bool) -> Result<(), SourceError> {
        let dir = if failed {
            &self.cfg.dirs.failed
        } else {
            &self.cfg.dirs.done
        };
        if !self.session.try_exists(dir).await.map_err(sftp_err)? {
            self.session.create_dir(dir).await.map_err(sftp_err)?;
        }
        self.replace(
            &Self::path(&self.cfg.dirs.incoming, name),
            &Self::path(dir, name),
        )
        .await
    }

    pub async fn remove(&self, name: &str) -> Result<(), SourceError> {
        self.session
            .remove_file(Self::path(&self.cfg.dirs.incoming, name))
            .await
            .map_err(sftp_err)
    }
}
