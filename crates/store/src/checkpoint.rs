//! WAL checkpoints, mostly off the write path.
//!
//! With SQLite's automatic checkpoints, the commit that crosses the threshold copies the whole
//! WAL back into the database file and syncs it before it returns: one write in a few thousand
//! waited tens of milliseconds (the max latency of `loadgen create-records` at concurrency 1
//! was 76 ms against a p99 of 9 ms). So the writer connection runs with
//! `wal_autocheckpoint = 0` and this task checkpoints in two steps:
//!
//! 1. every [`CheckpointOptions::interval`], a `PASSIVE` checkpoint from its own connection: it copies the bulk
//!    of the WAL back while the writer keeps appending, blocking nobody;
//! 2. once the WAL holds [`CheckpointOptions::catch_up_pages`], a second `PASSIVE` checkpoint on the **writer's**
//!    connection (taken from the one-connection write pool between two group commits), which
//!    only copies what arrived since step 1, but with no writer appending it reaches the end
//!    of the WAL, so the next write starts the WAL from the beginning again. Without this step
//!    a busy writer keeps the checkpoint from ever finishing and the WAL grows without bound
//!    (measured: 3.9 GB after 40 s of writes).

use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, SqliteConnection, SqlitePool};

/// When the checkpointer runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointOptions {
    /// How often it looks at the WAL (step 1 of the module docs).
    pub interval: Duration,
    /// WAL pages (4 KiB each) from which step 2 runs.
    pub catch_up_pages: i64,
}

impl Default for CheckpointOptions {
    /// Every 500 ms; step 2 from 4096 pages (16 MiB).
    fn default() -> Self {
        CheckpointOptions {
            interval: Duration::from_millis(500),
            catch_up_pages: 4096,
        }
    }
}

/// The running checkpointer task. Dropping the last handle stops it too.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    stop: tokio::sync::watch::Sender<bool>,
    task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Checkpointer {
    /// Starts the checkpointer on the current tokio runtime, with its own connection.
    /// `write` is the one-connection writer pool (module docs, step 2).
    pub(crate) fn start(
        options: SqliteConnectOptions,
        write: SqlitePool,
        when: CheckpointOptions,
    ) -> Checkpointer {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        Checkpointer {
            stop,
            task: std::sync::Mutex::new(Some(tokio::spawn(run(options, write, when, stopped)))),
        }
    }

    /// Stops the task after a final `TRUNCATE` checkpoint, and waits for it.
    pub(crate) async fn stop(&self) {
        self.stop.send_replace(true);
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

async fn run(
    options: SqliteConnectOptions,
    write: SqlitePool,
    when: CheckpointOptions,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut conn = match options.connect().await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "WAL checkpointer cannot connect; SQLite will not checkpoint the WAL");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(when.interval) => {}
            _ = stop.changed() => break,
        }
        if *stop.borrow() {
            break;
        }
        match checkpoint(&mut conn, "PASSIVE").await {
            Ok((log, _)) if log >= when.catch_up_pages => {
                let caught_up = match write.acquire().await {
                    Ok(mut w) => checkpoint(&mut w, "PASSIVE").await,
                    Err(e) => Err(e),
                };
                match caught_up {
                    Ok((log, done)) if done < log => {
                        tracing::debug!(log, done, "WAL checkpoint held back by readers");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "WAL catch-up checkpoint failed"),
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed; retrying"),
        }
    }
    // A last full checkpoint on shutdown keeps the WAL small for the next start.
    let _ = checkpoint(&mut conn, "TRUNCATE").await;
    let _ = conn.close().await;
}

/// Runs one checkpoint; returns (pages in the WAL, pages checkpointed).
async fn checkpoint(
    conn: &mut SqliteConnection,
    mode: &'static str,
) -> Result<(i64, i64), sqlx::Error> {
    let sql = match mode {
        "TRUNCATE" => "PRAGMA wal_checkpoint(TRUNCATE)",
        _ => "PRAGMA wal_checkpoint(PASSIVE)",
    };
    // `fetch_all` steps the statement to its end, so no statement stays open on the
    // connection afterwards.
    let rows: Vec<(i64, i64, i64)> = sqlx::query_as(sql).fetch_all(&mut *conn).await?;
    Ok(rows
        .first()
        .map_or((0, 0), |&(_busy, log, done)| (log, done)))
}
