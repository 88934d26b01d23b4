//! Deployments through the client: deploy, check and upgrade, roll back.

use super::{Client, convert, proto};
use crate::error::{Error, Result};
use crate::host::{CompatibilityReport, Deployment, DeploymentInfo, RunVerdict};
use crate::ids::WorkflowId;

impl Client {
    /// Deploy a component; see [`crate::Host::deploy`].
    ///
    /// # Errors
    /// As the host's.
    pub async fn deploy(&self, component: Vec<u8>) -> Result<Deployment> {
        let reply = self
            .deployments
            .clone()
            .deploy(proto::DeployRequest {
                component,
                upgrade: false,
            })
            .await?
            .into_inner();
        deployment_from_reply(&reply)
    }

    /// Deploy a component and move the open runs that replay cleanly on it;
    /// see [`crate::Host::deploy_upgrade`].
    ///
    /// # Errors
    /// As the host's.
    pub async fn deploy_upgrade(
        &self,
        component: Vec<u8>,
    ) -> Result<(Deployment, CompatibilityReport)> {
        let reply = self
            .deployments
            .clone()
            .deploy(proto::DeployRequest {
                component,
                upgrade: true,
            })
            .await?
            .into_inner();
        let deployment = deployment_from_reply(&reply)?;
        let report = reply
            .report
            .ok_or_else(|| Error::Internal("the server sent no upgrade report".into()))?;
        Ok((deployment, convert::report_from_proto(report)?))
    }

    /// Check a candidate component against the open runs; see
    /// [`crate::Host::check_deployment`].
    ///
    /// # Errors
    /// As the host's.
    pub async fn check_deployment(&self, component: Vec<u8>) -> Result<CompatibilityReport> {
        let reply = self
            .deployments
            .clone()
            .check_deployment(proto::CheckDeploymentRequest { component })
            .await?
            .into_inner();
        convert::report_from_proto(reply)
    }

    /// Move one open run onto a deployed component; see
    /// [`crate::Host::upgrade_run`].
    ///
    /// # Errors
    /// As the host's.
    pub async fn upgrade_run(
        &self,
        workflow_id: &WorkflowId,
        component: &str,
    ) -> Result<RunVerdict> {
        let reply = self
            .deployments
            .clone()
            .upgrade_workflow(proto::UpgradeWorkflowRequest {
                workflow_id: workflow_id.to_string(),
                component: component.to_string(),
            })
            .await?
            .into_inner();
        convert::verdict_from_proto(reply)
    }

    /// Every deployed component; see [`crate::Host::deployments`].
    ///
    /// # Errors
    /// As the host's.
    pub async fn deployments(&self) -> Result<Vec<DeploymentInfo>> {
        let reply = self
            .deployments
            .clone()
            .list_deployments(proto::ListDeploymentsRequest {})
            .await?
            .into_inner();
        reply
            .deployments
            .into_iter()
            .map(convert::deployment_from_proto)
            .collect()
    }

    /// Make a component current for a type; see [`crate::Host::set_current`].
    ///
    /// # Errors
    /// As the host's.
    pub async fn set_current(&self, workflow_type: &str, component: &str) -> Result<()> {
        self.deployments
            .clone()
            .set_current(proto::SetCurrentRequest {
                workflow_type: workflow_type.to_string(),
                component: component.to_string(),
            })
            .await?;
        Ok(())
    }
}

fn deployment_from_reply(reply: &proto::DeployResponse) -> Result<Deployment> {
    Ok(Deployment {
        component: reply.component.parse()?,
        workflow_types: reply
            .workflow_types
            .iter()
            .cloned()
            .map(convert::type_from_proto)
            .collect(),
    })
}
