//! The local admin page (`/admin`) and its JSON API (`/admin/api/...`): not implemented yet.

use std::sync::Arc;

use http::{Request, Response};
use hyper::body::Incoming;

use super::{AppState, Body, Runtime, error_response};
use crate::error::ApiError;

/// Serve `/admin` and `/admin/...`.
pub async fn handle(_state: &Arc<AppState>, _rt: &Arc<Runtime>, req: Request<Incoming>) -> Response<Body> {
    error_response(&ApiError::not_found(req.uri().path()), &[])
}
