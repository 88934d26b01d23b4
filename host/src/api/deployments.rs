//! The deployment service: deploy, list and set the current version; check
//! a candidate against the open runs and move runs onto it.

use tonic::{Request, Response, Status};

use super::convert;
use super::proto::{self, deployment_service_server::DeploymentService};
use crate::host::Host;

/// See the module docs.
pub(super) struct Deployments {
    host: Host,
}

impl Deployments {
    pub(super) fn new(host: Host) -> Self {
        Deployments { host }
    }
}

#[tonic::async_trait]
impl DeploymentService for Deployments {
    async fn deploy(
        &self,
        request: Request<proto::DeployRequest>,
    ) -> Result<Response<proto::DeployResponse>, Status> {
        let request = request.into_inner();
        let (deployment, report) = match request.upgrade {
            true => {
                let (deployment, report) = self.host.deploy_upgrade(request.component).await?;
                (deployment, Some(convert::report_to_proto(report)))
            }
            false => (self.host.deploy(request.component).await?, None),
        };
        Ok(Response::new(proto::DeployResponse {
            component: deployment.component.to_string(),
            workflow_types: deployment
                .workflow_types
                .into_iter()
                .map(convert::type_to_proto)
                .collect(),
            report,
        }))
    }

    async fn check_deployment(
        &self,
        request: Request<proto::CheckDeploymentRequest>,
    ) -> Result<Response<proto::CompatibilityReport>, Status> {
        let report = self
            .host
            .check_deployment(request.into_inner().component)
            .await?;
        Ok(Response::new(convert::report_to_proto(report)))
    }

    async fn upgrade_workflow(
        &self,
        request: Request<proto::UpgradeWorkflowRequest>,
    ) -> Result<Response<proto::RunVerdict>, Status> {
        let request = request.into_inner();
        let workflow_id = convert::workflow_id(&request.workflow_id)?;
        let component = request.component.parse()?;
        let verdict = self.host.upgrade_run(&workflow_id, &component).await?;
        Ok(Response::new(convert::verdict_to_proto(verdict)))
    }

    async fn list_deployments(
        &self,
        _request: Request<proto::ListDeploymentsRequest>,
    ) -> Result<Response<proto::ListDeploymentsResponse>, Status> {
        let deployments = self.host.deployments().await?;
        Ok(Response::new(proto::ListDeploymentsResponse {
            deployments: deployments
                .into_iter()
                .map(convert::deployment_to_proto)
                .collect(),
        }))
    }

    async fn set_current(
        &self,
        request: Request<proto::SetCurrentRequest>,
    ) -> Result<Response<proto::SetCurrentResponse>, Status> {
        let request = request.into_inner();
        let component = request.component.parse()?;
        self.host
            .set_current(&request.workflow_type, &component)
            .await?;
        Ok(Response::new(proto::SetCurrentResponse {}))
    }
}
