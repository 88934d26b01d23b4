//! Stopping a host: at once, or gracefully (long polls end, activity
//! attempts in flight finish, then every task of the host).

use std::time::Duration;

use super::Host;

impl Host {
    /// Stop serving. Everything durable stays in the store; a new host on the
    /// same store carries on.
    pub fn shutdown(&self) {
        self.core.stopping.cancel();
        self.core.shutdown.cancel();
    }

    /// Begin a graceful stop: calls waiting for a result return
    /// [`crate::Error::ShuttingDown`], and no activity attempt starts. Runs and
    /// their tasks stay safe in the store.
    pub fn begin_stop(&self) {
        self.core.stopping.cancel();
    }

    /// Stop gracefully: [`Host::begin_stop`], then wait up to `grace` for
    /// the activity attempts in flight to finish and record their outcome,
    /// then stop every task of the host and wait for them. An attempt still
    /// running after `grace` is dropped and runs again after a restart.
    pub async fn stop(&self, grace: Duration) {
        self.begin_stop();
        self.core.activity_tasks.close();
        if tokio::time::timeout(grace, self.core.activity_tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "activity attempts still running after {grace:?}; they will run again after a restart"
            );
        }
        self.core.shutdown.cancel();
        self.core.tasks.close();
        if tokio::time::timeout(grace, self.core.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("host tasks still running after {grace:?}");
        }
    }
}
