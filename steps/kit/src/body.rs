//! Reading a small S3 object whole, with a cap that holds whether or not the response says how
//! long it is (a chunked body has no Content-Length).

use aws_sdk_s3::primitives::ByteStream;

/// Why a capped read stopped.
#[derive(Debug, thiserror::Error)]
pub enum CappedReadError {
    /// The object is longer than the cap; nothing more was read.
    #[error("longer than {limit} bytes")]
    TooLarge {
        /// The cap, in bytes.
        limit: u64,
    },
    /// The body stream failed (a dropped connection, a stalled peer): worth a retry.
    #[error("{0}")]
    Stream(String),
}

/// Reads `body` into memory, stopping as soon as it exceeds `limit` bytes. `content_length` is
/// the response's, when it has one: a body announced as too long is refused before any read.
pub async fn read_capped(
    mut body: ByteStream,
    content_length: Option<i64>,
    limit: u64,
) -> Result<Vec<u8>, CappedReadError> {
    if content_length.is_some_and(|n| u64::try_from(n).unwrap_or(0) > limit) {
        return Err(CappedReadError::TooLarge { limit });
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = body
        .try_next()
        .await
        .map_err(|e| CappedReadError::Stream(e.to_string()))?
    {
        if (bytes.len() + chunk.len()) as u64 > limit {
            return Err(CappedReadError::TooLarge { limit });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_up_to_the_cap_and_refuses_beyond_it() {
        let ok = read_capped(ByteStream::from(vec![7u8; 10]), None, 10).await;
        assert_eq!(ok.unwrap().len(), 10);
        let long = read_capped(ByteStream::from(vec![7u8; 11]), None, 10).await;
        assert!(matches!(long, Err(CappedReadError::TooLarge { limit: 10 })));
        let announced = read_capped(ByteStream::from(vec![7u8; 1]), Some(11), 10).await;
        assert!(matches!(announced, Err(CappedReadError::TooLarge { .. })));
    }
}
