//! gongzhi's one integration-test binary: the real server on port 0 against a
//! fresh database, on SQLite and (with GONGZHI_TEST_POSTGRES) PostgreSQL.

mod harness;

mod access;
mod auth;
mod cases;
mod cli;
mod errors;
mod log;
mod places;
mod schema;
