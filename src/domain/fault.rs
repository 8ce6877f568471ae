//! Why the database cannot be written right now: the storage faults a user is
//! told about ("not saved") and the operators see in the log.
//!
//! Pure: the store recognises a fault from the driver's result codes and keeps
//! the current one; this module only names them.

use std::fmt;

/// Why the database cannot be written right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteFault {
    /// SQLITE_FULL: the disk (or the database's size limit) is full.
    DiskFull,
    /// SQLITE_BUSY / SQLITE_LOCKED: another process holds the database's lock.
    Locked,
    /// SQLITE_IOERR / SQLITE_CANTOPEN: the operating system failed a read or write.
    Io,
    /// SQLITE_READONLY: the file or its directory cannot be written.
    ReadOnly,
}

impl WriteFault {
    /// A short name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DiskFull => "disk full",
            Self::Locked => "locked by another process",
            Self::Io => "I/O error",
            Self::ReadOnly => "read-only",
        }
    }
}

impl fmt::Display for WriteFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
