//! Local S3 Inventory delivery (work in progress).
