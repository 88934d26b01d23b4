//! Deploying components to a running host and choosing the current version
//! of each workflow type.

use super::checks::list;
use super::{Deployment, DeploymentInfo, Host};
use crate::error::{Error, Result, quote};
use crate::ids::ComponentId;
use crate::store::{Batch, Op};

impl Host {
    /// Validate, compile and store a component, and make it the current
    /// version of every workflow type it serves. Deploying the same bytes
    /// again stores nothing new and makes it current again (undoing a
    /// rollback). Open runs stay on their versions, except runs of these
    /// types that are stuck (parked on non-determinism, or failing their
    /// workflow task): each is re-checked against the new version and,
    /// if its history replays there cleanly, moves onto it and resumes.
    ///
    /// # Errors
    /// [`Error::ComponentRejected`] naming what is wrong with it.
    pub async fn deploy(&self, bytes: Vec<u8>) -> Result<Deployment> {
        self.store_component(bytes, |_| true).await
    }

    /// Deploy a component built into the host's binary, as a host does on
    /// every start. A component the store does not hold yet (a new build)
    /// is deployed as by [`Host::deploy`]. One it holds (an earlier start)
    /// becomes current only for types that have no current version, so a
    /// deploy or rollback made since stays in force.
    ///
    /// # Errors
    /// As [`Host::deploy`].
    pub async fn deploy_embedded(&self, bytes: Vec<u8>) -> Result<Deployment> {
        let stored = self
            .core
            .store
            .component(&ComponentId::of(&bytes))
            .await?
            .is_some();
        let core = self.core.clone();
        self.store_component(bytes, move |workflow_type| {
            !stored || core.current_version(workflow_type).is_none()
        })
        .await
    }

    /// Store a component and make it current for the types `current`
    /// picks.
    async fn store_component(
        &self,
        bytes: Vec<u8>,
        current: impl Fn(&str) -> bool,
    ) -> Result<Deployment> {
        let core = self.core.clone();
        let (loaded, bytes) = tokio::task::spawn_blocking(move || {
            let loaded = core.wasm.load(&bytes);
            (loaded, bytes)
        })
        .await
        .map_err(|e| Error::internal("compiling a component", e))?;
        let loaded = loaded?;
        let mut batch = Batch::default().op(Op::PutComponent {
            id: loaded.id().clone(),
            bytes,
            workflow_types: loaded.workflow_types().to_vec(),
            created_at_ms: self.core.clock.now_ms(),
        });
        let made_current: Vec<String> = loaded
            .workflow_types()
            .iter()
            .map(|info| info.name.clone())
            .filter(|name| current(name))
            .collect();
        for name in &made_current {
            batch = batch.op(Op::SetCurrent {
                workflow_type: name.clone(),
                component: loaded.id().clone(),
            });
        }
        self.core.store.commit(batch).await?;
        for name in &made_current {
            self.core
                .set_current_version(name.clone(), loaded.id().clone());
        }
        super::upgrades::retry_stuck_runs(&self.core, &loaded, &made_current);
        tracing::info!(
            component = %loaded.id().short(),
            types = ?loaded.workflow_types().iter().map(|t| &t.name).collect::<Vec<_>>(),
            current_for = ?made_current,
            "deployed"
        );
        Ok(Deployment {
            component: loaded.id().clone(),
            workflow_types: loaded.workflow_types().to_vec(),
        })
    }

    /// Every deployed component, oldest first, with the types it is current
    /// for.
    ///
    /// # Errors
    /// The store failed.
    pub async fn deployments(&self) -> Result<Vec<DeploymentInfo>> {
        let current = self.core.store.current_versions().await?;
        Ok(self
            .core
            .store
            .components()
            .await?
            .into_iter()
            .map(|component| DeploymentInfo {
                current_for: current
                    .iter()
                    .filter(|(_, id)| *id == component.id)
                    .map(|(name, _)| name.clone())
                    .collect(),
                component,
            })
            .collect())
    }

    /// Make a deployed component the current version of `workflow_type`, for
    /// new runs (a rollback when it is an earlier one). Open runs keep their
    /// versions.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the component is not deployed or does not
    /// serve the type.
    pub async fn set_current(&self, workflow_type: &str, component: &ComponentId) -> Result<()> {
        let record = self
            .core
            .store
            .component(component)
            .await?
            .ok_or_else(|| Error::NotFound(format!("component {component} is not deployed")))?;
        if !record
            .workflow_types
            .iter()
            .any(|t| t.name == workflow_type)
        {
            let served: Vec<String> = record.workflow_types.into_iter().map(|t| t.name).collect();
            return Err(Error::NotFound(format!(
                "component {} does not serve workflow type {} (it serves: {})",
                component.short(),
                quote(workflow_type),
                list(&served)
            )));
        }
        self.core
            .store
            .commit(Batch::default().op(Op::SetCurrent {
                workflow_type: workflow_type.to_string(),
                component: component.clone(),
            }))
            .await?;
        self.core
            .set_current_version(workflow_type.to_string(), component.clone());
        tracing::info!(workflow_type, component = %component.short(), "current version set");
        Ok(())
    }
}
