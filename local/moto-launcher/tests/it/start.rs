//! Starting, using and stopping the local stack's moto.

use std::path::{Path, PathBuf};

use moto_launcher::{LaunchError, MotoCommand, MotoServer};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

#[tokio::test]
async fn the_local_stack_moto_serves_s3_and_is_gone_after_drop() {
    let root = workspace_root();
    let moto = MotoServer::start(&MotoCommand::local_stack(
        MotoCommand::venv_python(&root),
        &root,
    ))
    .await
    .unwrap();
    assert_eq!(moto.endpoint(), format!("http://127.0.0.1:{}", moto.port()));
    let s3 = kit::clients::s3(&moto.sdk_config());
    s3.create_bucket().bucket("launcher").send().await.unwrap();
    let listed = s3.list_buckets().send().await.unwrap();
    assert_eq!(listed.buckets().len(), 1);
    assert!(
        moto.env()
            .contains(&("AWS_ENDPOINT_URL".to_owned(), moto.endpoint().to_owned()))
    );

    let port = moto.port();
    drop(moto);
    // The port is free again: the process is gone.
    assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_ok());
}

#[tokio::test]
async fn a_missing_program_is_named_before_anything_starts() {
    let missing = workspace_root().join("no-such-venv/bin/moto_server");
    let err = MotoServer::start(&MotoCommand::moto_server(&missing))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LaunchError::NotFound { path } if path == &missing),
        "{err:?}"
    );
    assert!(err.to_string().contains("make venv"), "{err}");
    let err = MotoServer::start_blocking(&MotoCommand::local_stack(
        workspace_root().join("no-such-venv/bin/python"),
        &workspace_root(),
    ))
    .unwrap_err();
    assert!(matches!(err, LaunchError::NotFound { .. }), "{err:?}");
}
