//! Integration tests of the server's request path, driven through the router
//! in-process with correctly signed requests.

mod harness;
mod request_path;
