//! notify (work in progress)
