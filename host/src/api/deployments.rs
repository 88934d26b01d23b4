//! The deployment service: deploy, list and set the current version.

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
        let deployment = self.host.deploy(request.into_inner().component).await?;
        Ok(Response::new(proto::DeployResponse {
            component: deployment.component.to_string(),
            workflow_types: deployment
                .workflow_types
                .into_iter()
                .map(convert::type_to_proto)
                .collect(),
        }))
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
