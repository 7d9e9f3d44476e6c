//! A tiny programmable HTTP/1.1 proxy between the client and the server, speaking
//! just enough HTTP (Content-Length and chunked bodies, keep-alive from the client,
//! one upstream connection per request) to forward, alter, answer or drop each
//! request. It counts the requests it sees, so tests can tell how often the client
//! tried.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prost::Message;
use tablesafe_common::{Clock, SystemClock};
use tablesafe_proto::pb;
use tablesafe_proto::sign::{self, SigningKey};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::harness::{KEY_ID, SECRET};

/// A request or response: start line, headers (names lowercased), body.
#[derive(Debug, Clone)]
pub struct HttpMessage {
    pub start_line: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpMessage {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn set_header(&mut self, name: &str, value: String) {
        self.headers.retain(|(n, _)| n != name);
        self.headers.push((name.to_owned(), value));
    }

    pub fn remove_header(&mut self, name: &str) {
        self.headers.retain(|(n, _)| n != name);
    }

    /// The action of a request (last path segment).
    pub fn action(&self) -> String {
        let path = self.start_line.split(' ').nth(1).unwrap_or_default();
        path.rsplit('/').next().unwrap_or_default().to_owned()
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("{}\r\n", self.start_line).into_bytes();
        for (name, value) in &self.headers {
            if name != "content-length" && name != "transfer-encoding" {
                out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
            }
        }
        out.extend_from_slice(format!("content-length: {}\r\n\r\n", self.body.len()).as_bytes());
        out.extend_from_slice(&self.body);
        out
    }

    /// Signs a response the way the server does, for `action`, with the test secret.
    pub fn sign_response(&mut self, action: &str) {
        let ots: Vec<(String, String)> =
            self.headers.iter().filter(|(n, _)| n.starts_with("x-ots-")).cloned().collect();
        let signature = sign::response_signature(&SigningKey::V2(SECRET.into()), &ots, action);
        self.set_header("authorization", format!("OTS {KEY_ID}:{signature}"));
    }
}

/// A Tablestore error response with fresh headers, signed or not.
pub fn error_response(action: &str, status: u16, code: &str, message: &str, signed: bool) -> HttpMessage {
    let body =
        pb::Error { code: code.into(), message: Some(message.into()), access_denied_detail: None }.encode_to_vec();
    let mut response = HttpMessage {
        start_line: format!("HTTP/1.1 {status} Error"),
        headers: vec![
            ("x-ots-contentmd5".into(), sign::content_md5(&body)),
            ("x-ots-contenttype".into(), "protocol buffer".into()),
            ("x-ots-date".into(), sign::format_ots_date(SystemClock.now_micros())),
            ("x-ots-requestid".into(), "proxy-request".into()),
        ],
        body,
    };
    if signed {
        response.sign_response(action);
    }
    response
}

/// What the proxy does with one request.
pub enum Plan {
    /// Pass it to the server and its response back.
    Forward,
    /// Pass it on, then change the response before returning it.
    Tamper(Box<dyn FnOnce(&mut HttpMessage) + Send>),
    /// Answer it without asking the server.
    Reply(HttpMessage),
    /// Read it, then close the connection without answering.
    Drop,
    /// Read it and never answer.
    Hang,
}

type Planner = dyn Fn(usize, &HttpMessage) -> Plan + Send + Sync;

pub struct Proxy {
    pub endpoint: String,
    requests: Arc<AtomicUsize>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Starts a proxy to `upstream`; `planner` gets each request's 0-based index.
    pub async fn start(
        upstream: SocketAddr,
        planner: impl Fn(usize, &HttpMessage) -> Plan + Send + Sync + 'static,
    ) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let planner: Arc<Planner> = Arc::new(planner);
        let counter = Arc::clone(&requests);
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let planner = Arc::clone(&planner);
                let counter = Arc::clone(&counter);
                tokio::spawn(async move {
                    let _ = serve_connection(stream, upstream, planner, counter).await;
                });
            }
        });
        Proxy { endpoint, requests, accept }
    }

    /// Requests seen so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn serve_connection(
    stream: TcpStream,
    upstream: SocketAddr,
    planner: Arc<Planner>,
    counter: Arc<AtomicUsize>,
) -> std::io::Result<()> {
    let mut client = BufReader::new(stream);
    while let Some(request) = read_message(&mut client).await? {
        let index = counter.fetch_add(1, Ordering::SeqCst);
        let response = match planner(index, &request) {
            Plan::Forward => forward(upstream, &request).await?,
            Plan::Tamper(change) => {
                let mut response = forward(upstream, &request).await?;
                change(&mut response);
                response
            }
            Plan::Reply(response) => response,
            Plan::Drop => return Ok(()),
            Plan::Hang => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return Ok(());
            }
        };
        client.get_mut().write_all(&response.to_bytes()).await?;
    }
    Ok(())
}

async fn forward(upstream: SocketAddr, request: &HttpMessage) -> std::io::Result<HttpMessage> {
    let mut request = request.clone();
    request.set_header("connection", "close".into());
    let mut server = BufReader::new(TcpStream::connect(upstream).await?);
    server.get_mut().write_all(&request.to_bytes()).await?;
    read_message(&mut server)
        .await?
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "upstream closed"))
}

/// Reads one message; `None` at a clean end of stream.
async fn read_message(reader: &mut BufReader<TcpStream>) -> std::io::Result<Option<HttpMessage>> {
    let mut start_line = String::new();
    if reader.read_line(&mut start_line).await? == 0 {
        return Ok(None);
    }
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let mut message = HttpMessage { start_line: start_line.trim_end().to_owned(), headers, body: Vec::new() };
    if message.header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).await?;
            let size = usize::from_str_radix(size.trim(), 16)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).await?;
            if size == 0 {
                break;
            }
            message.body.extend_from_slice(&chunk[..size]);
        }
    } else {
        let length = message.header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        message.body = vec![0; length];
        reader.read_exact(&mut message.body).await?;
    }
    Ok(Some(message))
}
