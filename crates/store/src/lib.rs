//! gongzhi's database: one enum over SQLite and PostgreSQL pools, migrations per
//! backend, and every SQL statement the product runs. Portable SQL only: `$N`
//! placeholders, `RETURNING`, `ON CONFLICT`, app-made ids, integer times.

mod cases;
mod db;
mod error;
mod migrate;
mod tree;
mod units;
mod users;

pub use cases::*;
pub use db::{Backend, Db, Tx};
pub use error::StoreError;
pub use migrate::{ColumnDescription, SchemaDescription};
pub use tree::*;
pub use units::*;
pub use users::*;
