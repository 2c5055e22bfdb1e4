//! gongzhi's pure core. No I/O, no async: everything here is data and rules,
//! so that most behaviour can be tested without a database or a server.

pub mod access;
pub mod calendar;
pub mod category;
pub mod category_code;
pub mod checkpoint;
pub mod conflict;
pub mod demo;
pub mod document;
pub mod duration;
pub mod engine;
pub mod ids;
pub mod indicators;
pub mod link;
pub mod log;
pub mod media;
pub mod merkle;
pub mod pack;
pub mod places;
pub mod redact;
pub mod replay;
pub mod role;
pub mod routing;
pub mod suggest;
pub mod time;
pub mod unit;
