//! The object store the kernel reads through, as a restore would lay the table out: without
//! `_last_checkpoint`. That file is a mutable hint, not part of any version; a restore at V writes
//! its own for the checkpoint it keeps, or none. Read as copied, a hint naming a checkpoint that
//! is not in the snapshot makes the kernel refuse every version at or above it
//! (`InvalidCheckpoint`) although the snapshot holds everything those versions need. The hint's
//! validity is reported separately, as a finding ([`crate::table`]).

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use delta_kernel::object_store::path::Path;
use delta_kernel::object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};
use futures::stream::{BoxStream, StreamExt};

const HINT: &str = "_last_checkpoint";

/// Requests the kernel sent through this store (every instance), for the benchmark's count.
pub(crate) static REQUESTS: AtomicU64 = AtomicU64::new(0);

fn count() {
    REQUESTS.fetch_add(1, Ordering::Relaxed);
}

fn is_hint(p: &Path) -> bool {
    p.filename() == Some(HINT)
}

fn not_found(p: &Path) -> delta_kernel::object_store::Error {
    delta_kernel::object_store::Error::NotFound {
        path: p.to_string(),
        source: "verify-snapshot reads the log without the _last_checkpoint hint".into(),
    }
}

/// `inner` with every `_last_checkpoint` hidden.
#[derive(Debug)]
pub(crate) struct WithoutHint {
    inner: Arc<dyn ObjectStore>,
}

impl WithoutHint {
    pub(crate) fn new(inner: Arc<dyn ObjectStore>) -> Self {
        Self { inner }
    }
}

impl fmt::Display for WithoutHint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WithoutHint({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for WithoutHint {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        count();
        if is_hint(location) {
            return Err(not_found(location));
        }
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        count();
        if is_hint(location) {
            return Err(not_found(location));
        }
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        count();
        self.inner
            .list(prefix)
            .filter(|m| futures::future::ready(!matches!(m, Ok(m) if is_hint(&m.location))))
            .boxed()
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        count();
        self.inner
            .list_with_offset(prefix, offset)
            .filter(|m| futures::future::ready(!matches!(m, Ok(m) if is_hint(&m.location))))
            .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        count();
        let mut r = self.inner.list_with_delimiter(prefix).await?;
        r.objects.retain(|m| !is_hint(&m.location));
        Ok(r)
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}
