//! The S3 Control job API over HTTP, as `aws-sdk-s3control` speaks it.
//!
//! Element names, list shapes (`<member>`) and the error envelope
//! (`<ErrorResponse><Error><Code>…`, which is what the SDK's `rest_xml_wrapped_errors` parses)
//! follow the SDK's own serializers and deserializers. Requests are checked here (with
//! [`crate::names`] and [`crate::spec`]); jobs and their statuses are [`crate::lifecycle`]'s, and a
//! new job is handed to [`crate::engine`] to run.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use quick_xml::escape::escape;

use crate::engine;
use crate::lifecycle::{BatchService, Job, JobStatus, Request, RequestedStatus, timestamp};
use crate::model::{CreateJobRequest, PutJobTaggingRequest};
use crate::names::{TagProblem, check_tags, is_account_id, role_arn_account};
use crate::spec::{JobSpec, SpecError};

const XMLNS: &str = "http://awss3control.amazonaws.com/doc/2018-08-20/";

/// Every S3 Control job route, over the given service state.
pub fn router(state: Arc<BatchService>) -> Router {
    Router::new()
        .route("/v20180820/jobs", post(create_job).get(list_jobs))
        .route("/v20180820/jobs/{id}", get(describe_job))
        .route("/v20180820/jobs/{id}/status", post(update_job_status))
        .route("/v20180820/jobs/{id}/priority", post(update_job_priority))
        .route(
            "/v20180820/jobs/{id}/tagging",
            get(get_job_tagging)
                .put(put_job_tagging)
                .delete(delete_job_tagging),
        )
        .with_state(state)
}

/// An S3 Control error response.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn invalid(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "InvalidRequest",
            message: message.into(),
        }
    }

    fn no_such_job(id: &str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code: "NoSuchJob",
            message: format!("The specified job does not exist: {id}"),
        }
    }
}

impl From<SpecError> for ApiError {
    fn from(e: SpecError) -> Self {
        ApiError::invalid(e.to_string())
    }
}

impl From<TagProblem> for ApiError {
    fn from(e: TagProblem) -> Self {
        match e {
            TagProblem::TooMany => ApiError {
                status: StatusCode::BAD_REQUEST,
                code: "TooManyTagsException",
                message: e.to_string(),
            },
            TagProblem::BadLength { .. } => ApiError::invalid(e.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let request_id = uuid::Uuid::new_v4().simple().to_string();
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse><Error><Code>{}</Code><Message>{}</Message></Error><RequestId>{request_id}</RequestId><HostId>local-batch</HostId></ErrorResponse>",
            self.code,
            escape(self.message.as_str())
        );
        tracing::info!(code = self.code, status = self.status.as_u16(), message = %self.message, "request refused");
        (
            self.status,
            [
                (header::CONTENT_TYPE, "application/xml".to_owned()),
                (
                    header::HeaderName::from_static("x-amz-request-id"),
                    request_id,
                ),
            ],
            body,
        )
            .into_response()
    }
}

fn xml_ok(body: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/xml")],
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{body}"),
    )
        .into_response()
}

/// The account id of a request: `x-amz-account-id`, twelve digits.
fn account(headers: &HeaderMap) -> Result<String, ApiError> {
    let id = headers
        .get("x-amz-account-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if is_account_id(id) {
        Ok(id.to_owned())
    } else {
        Err(ApiError::invalid(
            "The x-amz-account-id header must hold a 12-digit AWS account id.",
        ))
    }
}

fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    raw.unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

fn query_one(raw: Option<&str>, key: &str) -> Option<String> {
    query_pairs(raw)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// The text of the first `<name>…</name>` element in `body`, tags included. The SDK writes
/// these elements without attributes and never nests one inside itself.
fn raw_element(body: &str, name: &str) -> String {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    match (body.find(&open), body.rfind(&close)) {
        (Some(a), Some(b)) if b >= a => body[a..b + close.len()].to_owned(),
        _ => String::new(),
    }
}

async fn create_job(
    State(state): State<Arc<BatchService>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let account = account(&headers)?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::invalid("The request body is not UTF-8 XML."))?;
    let req: CreateJobRequest = quick_xml::de::from_str(text).map_err(|e| ApiError {
        status: StatusCode::BAD_REQUEST,
        code: "MalformedXML",
        message: format!(
            "The XML you provided was not well-formed or did not validate against our published schema: {e}"
        ),
    })?;
    let token = req
        .client_request_token
        .clone()
        .filter(|t| !t.is_empty() && t.len() <= 64)
        .ok_or_else(|| ApiError::invalid("ClientRequestToken must be 1 to 64 characters long."))?;

    // Idempotency first: a retried request answers the job it created, whatever happened since.
    {
        let jobs = state.lock();
        if let Some(job) = jobs.by_token(&account, &token) {
            if job.request.fingerprint == text {
                tracing::info!(job_id = %job.id, %token, "CreateJob retried: same job");
                return Ok(create_job_result(&job.id));
            }
            return Err(ApiError {
                status: StatusCode::CONFLICT,
                code: "IdempotencyException",
                message: format!(
                    "The ClientRequestToken {token} was already used for a different CreateJob request."
                ),
            });
        }
    }

    let role_arn = req.role_arn.clone().unwrap_or_default();
    let role_account = role_arn_account(&role_arn).ok_or_else(|| {
        ApiError::invalid(format!(
            "RoleArn {role_arn:?} is not an IAM role ARN (arn:aws:iam::<account-id>:role/<name>)."
        ))
    })?;
    if role_account != account {
        // iam:PassRole cannot hand another account's role to a service: AWS refuses the call.
        return Err(ApiError {
            status: StatusCode::FORBIDDEN,
            code: "AccessDenied",
            message: format!(
                "User is not authorized to perform: iam:PassRole on resource: {role_arn} (a role of account {role_account} cannot be passed by account {account})"
            ),
        });
    }
    let spec = JobSpec::from_request(&req)?;
    let priority = req
        .priority
        .ok_or_else(|| ApiError::invalid("Priority is required."))?;
    if !(0..=i64::from(i32::MAX)).contains(&priority) {
        return Err(ApiError::invalid(format!(
            "Priority must be between 0 and 2147483647, got {priority}."
        )));
    }
    if req.description.as_deref().is_some_and(|d| d.len() > 256) {
        return Err(ApiError::invalid(
            "Description must be at most 256 characters long.",
        ));
    }
    let tags = req.tags.clone().map(|t| t.member).unwrap_or_default();
    check_tags(&tags)?;

    let request = Request {
        account: account.clone(),
        token,
        fingerprint: text.to_owned(),
        description: req.description.clone(),
        role_arn,
        confirmation_required: req.confirmation_required.unwrap_or(true),
        raw_manifest: raw_element(text, "Manifest"),
        raw_operation: raw_element(text, "Operation"),
        raw_report: raw_element(text, "Report"),
        spec: Arc::new(spec),
    };
    let job = Job::new(request, priority, tags);
    let id = state.lock().insert(job);
    tracing::info!(job_id = %id, %account, "job created");
    engine::start(Arc::clone(&state), id.clone());
    Ok(create_job_result(&id))
}

fn create_job_result(id: &str) -> Response {
    xml_ok(format!(
        "<CreateJobResult xmlns=\"{XMLNS}\"><JobId>{id}</JobId></CreateJobResult>"
    ))
}

fn with_job<T>(
    state: &BatchService,
    account: &str,
    id: &str,
    f: impl FnOnce(&mut Job) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let mut jobs = state.lock();
    match jobs.by_id.get_mut(id) {
        // Jobs of other accounts do not exist for this one.
        Some(job) if job.request.account == account => f(job),
        _ => Err(ApiError::no_such_job(id)),
    }
}

fn progress_xml(job: &Job) -> String {
    format!(
        "<ProgressSummary><TotalNumberOfTasks>{}</TotalNumberOfTasks><NumberOfTasksSucceeded>{}</NumberOfTasksSucceeded><NumberOfTasksFailed>{}</NumberOfTasksFailed><Timers><ElapsedTimeInActiveSeconds>{}</ElapsedTimeInActiveSeconds></Timers></ProgressSummary>",
        job.total,
        job.succeeded,
        job.failed,
        job.elapsed_active_seconds()
    )
}

fn opt_el(name: &str, v: Option<&str>) -> String {
    v.map(|v| format!("<{name}>{}</{name}>", escape(v)))
        .unwrap_or_default()
}

/// `<member><A>a</A><B>b</B></member>` for each pair, the values escaped.
fn pair_members<'a>(
    (first, second): (&str, &str),
    pairs: impl Iterator<Item = (&'a str, &'a str)>,
) -> String {
    pairs
        .map(|(a, b)| {
            format!(
                "<member><{first}>{}</{first}><{second}>{}</{second}></member>",
                escape(a),
                escape(b)
            )
        })
        .collect()
}

fn describe_xml(job: &Job, region: &str) -> String {
    let failures = pair_members(
        ("FailureCode", "FailureReason"),
        job.failure_reasons
            .iter()
            .map(|f| (f.code.as_str(), f.reason.as_str())),
    );
    let failures = if failures.is_empty() {
        String::new()
    } else {
        format!("<FailureReasons>{failures}</FailureReasons>")
    };
    format!(
        "<JobId>{id}</JobId><ConfirmationRequired>{conf}</ConfirmationRequired>{desc}<JobArn>arn:aws:s3:{region}:{acct}:job/{id}</JobArn><Status>{status}</Status>{manifest}{operation}<Priority>{prio}</Priority>{progress}{reason}{failures}{report}<CreationTime>{created}</CreationTime>{terminated}<RoleArn>{role}</RoleArn>",
        id = job.id,
        conf = job.request.confirmation_required,
        desc = opt_el("Description", job.request.description.as_deref()),
        acct = job.request.account,
        status = job.status.as_str(),
        manifest = job.request.raw_manifest,
        operation = job.request.raw_operation,
        prio = job.priority,
        progress = progress_xml(job),
        reason = opt_el("StatusUpdateReason", job.status_update_reason.as_deref()),
        report = job.request.raw_report,
        created = timestamp(job.creation_time),
        terminated = opt_el(
            "TerminationDate",
            job.termination_date.map(timestamp).as_deref()
        ),
        role = escape(job.request.role_arn.as_str()),
    )
}

async fn describe_job(
    State(state): State<Arc<BatchService>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let account = account(&headers)?;
    let region = state.region();
    let inner = with_job(&state, &account, &id, |job| Ok(describe_xml(job, &region)))?;
    Ok(xml_ok(format!(
        "<DescribeJobResult xmlns=\"{XMLNS}\"><Job>{inner}</Job></DescribeJobResult>"
    )))
}

async fn list_jobs(
    State(state): State<Arc<BatchService>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let account = account(&headers)?;
    let pairs = query_pairs(q.as_deref());
    // A status this service does not have (e.g. Paused) matches no job.
    let statuses: Vec<Option<JobStatus>> = pairs
        .iter()
        .filter(|(k, _)| k == "jobStatuses")
        .map(|(_, v)| JobStatus::parse(v))
        .collect();
    let max: usize = match query_one(q.as_deref(), "maxResults") {
        None => 1000,
        Some(m) => m
            .parse()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| ApiError::invalid("maxResults must be between 1 and 1000."))?,
    };
    let start: usize = match query_one(q.as_deref(), "nextToken") {
        None => 0,
        Some(t) => t
            .parse()
            .map_err(|_| ApiError::invalid("The nextToken is not valid."))?,
    };
    let jobs = state.lock();
    // Newest first, like AWS.
    let matching: Vec<&Job> = jobs
        .order
        .iter()
        .rev()
        .filter_map(|id| jobs.by_id.get(id))
        .filter(|j| {
            j.request.account == account
                && (statuses.is_empty() || statuses.contains(&Some(j.status)))
        })
        .collect();
    let page = matching.iter().skip(start).take(max);
    let members: String = page
        .map(|j| {
            format!(
                "<member><JobId>{}</JobId>{}<Operation>S3PutObjectCopy</Operation><Priority>{}</Priority><Status>{}</Status><CreationTime>{}</CreationTime>{}{}</member>",
                j.id,
                opt_el("Description", j.request.description.as_deref()),
                j.priority,
                j.status.as_str(),
                timestamp(j.creation_time),
                opt_el("TerminationDate", j.termination_date.map(timestamp).as_deref()),
                progress_xml(j)
            )
        })
        .collect();
    let next = if start + max < matching.len() {
        format!("<NextToken>{}</NextToken>", start + max)
    } else {
        String::new()
    };
    Ok(xml_ok(format!(
        "<ListJobsResult xmlns=\"{XMLNS}\">{next}<Jobs>{members}</Jobs></ListJobsResult>"
    )))
}

async fn update_job_status(
    State(state): State<Arc<BatchService>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let account = account(&headers)?;
    let requested =
        query_one(q.as_deref(), "requestedJobStatus").and_then(|r| RequestedStatus::parse(&r));
    let reason = query_one(q.as_deref(), "statusUpdateReason");
    let (status, reason) = with_job(&state, &account, &id, |job| {
        let requested = requested
            .ok_or_else(|| ApiError::invalid("requestedJobStatus must be Ready or Cancelled."))?;
        job.request(requested).map_err(|refused| ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "JobStatusException",
            message: refused.to_string(),
        })?;
        if reason.is_some() {
            job.status_update_reason = reason.clone();
        }
        Ok((job.status, job.status_update_reason.clone()))
    })?;
    tracing::info!(job_id = %id, %status, "job status updated");
    Ok(xml_ok(format!(
        "<UpdateJobStatusResult xmlns=\"{XMLNS}\"><JobId>{id}</JobId><Status>{status}</Status>{}</UpdateJobStatusResult>",
        opt_el("StatusUpdateReason", reason.as_deref())
    )))
}

async fn update_job_priority(
    State(state): State<Arc<BatchService>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let account = account(&headers)?;
    let priority: i64 = query_one(q.as_deref(), "priority")
        .and_then(|p| p.parse().ok())
        .filter(|p| (0..=i64::from(i32::MAX)).contains(p))
        .ok_or_else(|| ApiError::invalid("priority must be between 0 and 2147483647."))?;
    with_job(&state, &account, &id, |job| {
        job.priority = priority;
        Ok(())
    })?;
    Ok(xml_ok(format!(
        "<UpdateJobPriorityResult xmlns=\"{XMLNS}\"><JobId>{id}</JobId><Priority>{priority}</Priority></UpdateJobPriorityResult>"
    )))
}

async fn get_job_tagging(
    State(state): State<Arc<BatchService>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let account = account(&headers)?;
    let tags = with_job(&state, &account, &id, |job| Ok(job.tags.clone()))?;
    let members = pair_members(
        ("Key", "Value"),
        tags.iter().map(|t| (t.key.as_str(), t.value.as_str())),
    );
    Ok(xml_ok(format!(
        "<GetJobTaggingResult xmlns=\"{XMLNS}\"><Tags>{members}</Tags></GetJobTaggingResult>"
    )))
}

async fn put_job_tagging(
    State(state): State<Arc<BatchService>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let account = account(&headers)?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::invalid("The request body is not UTF-8 XML."))?;
    let req: PutJobTaggingRequest = quick_xml::de::from_str(text)
        .map_err(|e| ApiError::invalid(format!("The tagging document is not valid: {e}")))?;
    let tags = req.tags.map(|t| t.member).unwrap_or_default();
    check_tags(&tags)?;
    with_job(&state, &account, &id, |job| {
        job.tags = tags;
        Ok(())
    })?;
    Ok(StatusCode::OK.into_response())
}

async fn delete_job_tagging(
    State(state): State<Arc<BatchService>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let account = account(&headers)?;
    with_job(&state, &account, &id, |job| {
        job.tags.clear();
        Ok(())
    })?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_elements_are_cut_whole() {
        let body = "<R><A>1</A><Manifest><Spec><Format>F</Format></Spec></Manifest><B/></R>";
        assert_eq!(
            raw_element(body, "Manifest"),
            "<Manifest><Spec><Format>F</Format></Spec></Manifest>"
        );
        assert_eq!(raw_element(body, "Report"), "");
    }

    #[test]
    fn query_pairs_decode_percent_and_plus_and_repeat_keys() {
        let q = Some("jobStatuses=Active&jobStatuses=New&nextToken=a%2Bb&x");
        let pairs = query_pairs(q);
        assert_eq!(pairs.len(), 4);
        assert_eq!(query_one(q, "nextToken").as_deref(), Some("a+b"));
    }
}
