//! A PostgreSQL for the binary's tests: the store's own harness
//! (`src/store/testing_postgres.rs`, by path, so there is one copy of it),
//! with a throwaway cluster or `OPSDESK_TEST_POSTGRES_URL`, skipped locally
//! without either and required under `CI`.

pub use opsdesk::store::redact_url;

// Not every helper of the harness is used by the binary's tests.
#[allow(dead_code)]
#[path = "../../src/store/testing_postgres.rs"]
mod harness;

pub use harness::TestPostgres;
