//! WAL checkpoints off the write path.
//!
//! With SQLite's automatic checkpoints, the commit that crosses the threshold copies the whole
//! WAL back into the database file and syncs it before it returns: one write in a few thousand
//! waited tens of milliseconds (the max latency of `loadgen create-records` at concurrency 1
//! was 76 ms against a p99 of 9 ms). So the writer connection runs with
//! `wal_autocheckpoint = 0` and this task checkpoints instead, from its own connection, in
//! `PASSIVE` mode, which never blocks the writer or readers: it copies what it can and lets
//! the writer keep appending. When the WAL has grown past [`RESTART_PAGES`] (readers kept a
//! passive checkpoint from finishing) it asks for `RESTART`, which waits for readers so the
//! next writer starts the WAL from the beginning again.

use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, SqliteConnection};

/// How often the checkpointer looks at the WAL.
const INTERVAL: Duration = Duration::from_millis(500);

/// WAL pages (about 256 MiB) after which the checkpointer waits for readers (`RESTART`).
const RESTART_PAGES: i64 = 65_536;

/// The running checkpointer task. Dropping the last handle stops it too.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    stop: tokio::sync::watch::Sender<bool>,
    task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Checkpointer {
    /// Starts the checkpointer on the current tokio runtime, with its own connection.
    pub(crate) fn start(options: SqliteConnectOptions) -> Checkpointer {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        Checkpointer {
            stop,
            task: std::sync::Mutex::new(Some(tokio::spawn(run(options, stopped)))),
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

async fn run(options: SqliteConnectOptions, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut conn = match options.connect().await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "WAL checkpointer cannot connect; SQLite will not checkpoint the WAL");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(INTERVAL) => {}
            _ = stop.changed() => break,
        }
        if *stop.borrow() {
            break;
        }
        match checkpoint(&mut conn, "PASSIVE").await {
            Ok((log, done)) if log >= RESTART_PAGES && done < log => {
                if let Err(e) = checkpoint(&mut conn, "RESTART").await {
                    tracing::warn!(error = %e, "WAL restart checkpoint failed");
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
        "RESTART" => "PRAGMA wal_checkpoint(RESTART)",
        "TRUNCATE" => "PRAGMA wal_checkpoint(TRUNCATE)",
        _ => "PRAGMA wal_checkpoint(PASSIVE)",
    };
    let (_busy, log, done): (i64, i64, i64) = sqlx::query_as(sql).fetch_one(&mut *conn).await?;
    Ok((log, done))
}
