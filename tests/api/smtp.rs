//! A real SMTP server for tests: accepts every message over a socket and keeps it, so a
//! test reads the emails the server actually sent through lettre.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One received message.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// `RCPT TO` addresses.
    pub to: Vec<String>,
    /// The message as sent (headers and body), quoted-printable decoded.
    pub data: String,
}

impl ReceivedMail {
    /// The `Subject:` header.
    pub fn subject(&self) -> &str {
        self.data
            .lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .unwrap_or_default()
    }

    /// The token of the first link whose path is `path` (`verify-email`, …).
    pub fn token(&self, path: &str) -> String {
        let marker = format!("/{path}?token=");
        let start = self
            .data
            .find(&marker)
            .unwrap_or_else(|| panic!("no {path} link in:\n{}", self.data))
            + marker.len();
        self.data[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .collect()
    }
}

/// The sink: an address to put in `SMTP_URL`, and what arrived.
#[derive(Clone)]
pub struct SmtpSink {
    /// `smtp://127.0.0.1:<port>`.
    pub url: String,
    mails: Arc<Mutex<Vec<ReceivedMail>>>,
    transactions: Arc<std::sync::atomic::AtomicUsize>,
}

impl SmtpSink {
    /// Starts listening on a free port; every message takes `delay` to be accepted (a slow mail server).
    pub async fn start_with_delay(delay: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the SMTP sink");
        let url = format!("smtp://{}", listener.local_addr().expect("address"));
        let mails: Arc<Mutex<Vec<ReceivedMail>>> = Arc::default();
        let transactions: Arc<std::sync::atomic::AtomicUsize> = Arc::default();
        let (store, started) = (mails.clone(), transactions.clone());
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(session(socket, store.clone(), started.clone(), delay));
            }
        });
        Self {
            url,
            mails,
            transactions,
        }
    }

    /// How many messages have begun arriving (`MAIL FROM` seen).
    pub fn transactions_started(&self) -> usize {
        self.transactions.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Everything received so far.
    pub fn mails(&self) -> Vec<ReceivedMail> {
        self.mails.lock().expect("sink lock").clone()
    }

    /// Waits (up to 15 s) for a mail to `to` whose subject contains `subject`.
    pub async fn wait_for(&self, to: &str, subject: &str) -> ReceivedMail {
        for _ in 0..300 {
            if let Some(mail) = self
                .mails()
                .into_iter()
                .rev()
                .find(|m| m.to.iter().any(|t| t == to) && m.subject().contains(subject))
            {
                return mail;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "no mail to {to} about {subject:?}; received: {:#?}",
            self.mails()
        );
    }
}

async fn session(
    socket: tokio::net::TcpStream,
    store: Arc<Mutex<Vec<ReceivedMail>>>,
    started: Arc<std::sync::atomic::AtomicUsize>,
    delay: Duration,
) {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    let mut to = Vec::new();
    if write
        .write_all(b"220 msingi-test-sink ESMTP\r\n")
        .await
        .is_err()
    {
        return;
    }
    let mut line = String::new();
    loop {
        line.clear();
        match lines.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let command = line.trim_end().to_ascii_uppercase();
        let reply: &[u8] = if command.starts_with("EHLO") {
            b"250-msingi-test-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
        } else if command.starts_with("HELO") || command.starts_with("NOOP") {
            b"250 OK\r\n"
        } else if command.starts_with("MAIL FROM") {
            to.clear();
            started.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            b"250 OK\r\n"
        } else if command.starts_with("RCPT TO") {
            let address = line
                .trim_end()
                .split_once(':')
                .map(|(_, a)| {
                    a.trim()
                        .trim_start_matches('<')
                        .trim_end_matches('>')
                        .to_owned()
                })
                .unwrap_or_default();
            to.push(address);
            b"250 OK\r\n"
        } else if command == "DATA" {
            if write
                .write_all(b"354 end with <CRLF>.<CRLF>\r\n")
                .await
                .is_err()
            {
                return;
            }
            let mut data = String::new();
            loop {
                line.clear();
                match lines.read_line(&mut line).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            tokio::time::sleep(delay).await;
            store.lock().expect("sink lock").push(ReceivedMail {
                to: to.clone(),
                data: decode_quoted_printable(&data),
            });
            b"250 OK: queued\r\n"
        } else if command.starts_with("RSET") {
            to.clear();
            b"250 OK\r\n"
        } else if command.starts_with("QUIT") {
            let _ = write.write_all(b"221 bye\r\n").await;
            return;
        } else {
            b"502 not implemented\r\n"
        };
        if write.write_all(reply).await.is_err() {
            return;
        }
    }
}

/// Undoes quoted-printable soft line breaks and `=XX` escapes (harmless on other parts).
fn decode_quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
