//! gongzhi's one integration-test binary: the real server on port 0 against a
//! fresh database, on SQLite and (with GONGZHI_TEST_POSTGRES) PostgreSQL.

mod harness;

mod access;
mod admin;
mod attachments;
mod auth;
mod browser;
mod browser_admin;
mod browser_dispatch;
mod browser_mediation;
mod cases;
mod cli;
mod clocks;
mod dashboard;
mod decimals;
mod dispatch;
mod errors;
mod forms;
mod grid;
mod hardening;
mod indicators;
mod links;
mod log;
mod mediation;
mod open311;
mod pack_boundary;
mod pages;
mod parties;
mod people;
mod places;
mod records;
mod requests;
mod roles;
mod schema;
