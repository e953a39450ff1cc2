//! Test harness for qmail-smtpd over real loopback sockets: a listener on
//! 127.0.0.1:0, and per connection the `qmail-smtpd` binary with the
//! accepted socket as fd 0 and fd 1 and the TCP* environment set, as
//! tcpserver would run it.

#![allow(dead_code)]

#[macro_use]
#[path = "../loopback/mod.rs"]
mod loopback;
pub use loopback::{fake_queue, Conn, Inetd};

pub struct Server {
    _dir: tempfile::TempDir,
    inetd: Inetd,
}

deref_inetd!(Server);

impl Server {
    /// A home with `control/me` = `mx.example.com` and the fake queue
    /// `fakeqq` as QMAILQUEUE.
    pub fn new() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("control")).unwrap();
        fake_queue(root, "fakeqq", 0);
        let inetd = Inetd::new(
            root,
            &[
                ("QMAILQUEUE", "fakeqq"),
                ("TCPREMOTEIP", "192.0.2.7"),
                ("TCPLOCALHOST", "mx.example.com"),
            ],
        );
        let s = Server { _dir: dir, inetd };
        s.control("me", "mx.example.com\n");
        s
    }

    pub fn control(&self, name: &str, text: &str) {
        std::fs::write(self.root.join("control").join(name), text).unwrap();
    }

    pub fn remove_control(&self, name: &str) {
        std::fs::remove_file(self.root.join("control").join(name)).unwrap();
    }

    /// Connects a client and starts qmail-smtpd on the accepted socket.
    pub fn connect(&self) -> Conn {
        self.inetd
            .connect(env!("CARGO_BIN_EXE_qmail-smtpd").as_ref(), &[])
    }

    pub fn file(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.root.join(name)).unwrap_or_default()
    }

    /// What the fake queue saved: (message, envelope).
    pub fn queued(&self) -> (String, Vec<u8>) {
        (
            String::from_utf8_lossy(&self.file("msg")).into_owned(),
            self.file("env"),
        )
    }
}

/// SMTP on top of [`Conn`].
pub trait Smtp {
    /// MAIL, RCPT, DATA with their replies checked, ready for the body.
    fn start_data(&mut self, from: &str, to: &str);
    /// Reads a `250 ok <time> qp <pid>` reply and returns the qp.
    fn accepted(&mut self) -> u32;
}

impl Smtp for Conn {
    fn start_data(&mut self, from: &str, to: &str) {
        self.send(format!("MAIL FROM:<{from}>\r\nRCPT TO:<{to}>\r\nDATA\r\n"));
        self.expect("250 ok\r\n250 ok\r\n354 go ahead\r\n");
    }

    fn accepted(&mut self) -> u32 {
        let l = self.line();
        let parts: Vec<&str> = l.split(' ').collect();
        assert_eq!(parts.len(), 5, "{l}");
        assert_eq!(&parts[..2], ["250", "ok"], "{l}");
        assert!(parts[2].parse::<u64>().is_ok(), "{l}");
        assert_eq!(parts[3], "qp", "{l}");
        parts[4].parse().unwrap()
    }
}

pub const G: &str = "220 mx.example.com ESMTP\r\n";
