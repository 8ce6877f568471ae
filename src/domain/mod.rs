//! The pure core of opsdesk: types and rules with no I/O.
//!
//! Nothing here may use async, SQL or serenity; time is always a parameter.
//! Every other layer (desk, store, adapters) shares these rules.

pub mod alert;
pub mod audit;
pub mod cab;
pub mod change;
pub mod digest;
pub mod escalation;
pub mod fault;
pub mod ids;
pub mod incident;
pub mod outage;
pub mod party;
pub mod priority;
pub mod problem;
pub mod raci;
pub mod report;
pub mod search;
pub mod sla;
pub mod subject;
pub mod text;
pub mod timer;

pub use ids::{RoleKey, UserId};
