//! The backup repository: a table-agnostic store of content-addressed, compressed,
//! encrypted chunks over any OpenDAL destination.
