//! The local inventory against moto: layout, format, odd keys, splitting, versions, the CLI.

mod delivery;
