//! Unit tests of the qmail-pop3d core (spec §11.3), in memory.

use super::*;

fn msg(subdir: Subdir, name: &str, size: u64) -> Message {
    Message {
        subdir,
        name: name.as_bytes().to_vec(),
        size,
    }
}

fn session() -> Pop3d {
    Pop3d::new(vec![
        msg(Subdir::New, "100.1.host", 10),
        msg(Subdir::Cur, "123.456.host:2,S", 20),
        msg(Subdir::New, "300.3.host", 30),
    ])
}

fn reply(p: &mut Pop3d, line: &str) -> String {
    match p.command(line.as_bytes()) {
        Step::Reply(r) => String::from_utf8(r).unwrap(),
        other => panic!("{line}: {other:?}"),
    }
}

#[test]
fn stat_counts_deleted_messages_but_not_their_octets() {
    let mut p = session();
    assert_eq!(reply(&mut p, "STAT"), "+OK 3 60\r\n");
    assert_eq!(reply(&mut p, "DELE 1"), "+OK \r\n");
    assert_eq!(reply(&mut p, "STAT"), "+OK 3 50\r\n");
}

#[test]
fn list_and_uidl_skip_deleted_messages() {
    let mut p = session();
    assert_eq!(
        reply(&mut p, "LIST"),
        "+OK \r\n1 10\r\n2 20\r\n3 30\r\n.\r\n"
    );
    assert_eq!(reply(&mut p, "dele 2"), "+OK \r\n");
    assert_eq!(reply(&mut p, "LIST"), "+OK \r\n1 10\r\n3 30\r\n.\r\n");
    assert_eq!(
        reply(&mut p, "UIDL"),
        "+OK \r\n1 100.1.host\r\n3 300.3.host\r\n.\r\n"
    );
    assert_eq!(reply(&mut p, "LIST 3"), "+OK 3 30\r\n");
    assert_eq!(reply(&mut p, "LIST 2"), "-ERR already deleted\r\n");
}

#[test]
fn uidl_is_the_name_up_to_the_first_colon() {
    let mut p = session();
    assert_eq!(reply(&mut p, "UIDL 2"), "+OK 2 123.456.host\r\n");
}

#[test]
fn message_number_errors() {
    let mut p = session();
    assert_eq!(reply(&mut p, "RETR x"), "-ERR syntax error\r\n");
    assert_eq!(reply(&mut p, "RETR"), "-ERR syntax error\r\n");
    assert_eq!(
        reply(&mut p, "DELE 0"),
        "-ERR messages are counted from 1\r\n"
    );
    assert_eq!(reply(&mut p, "TOP 4 1"), "-ERR not that many messages\r\n");
    assert_eq!(
        reply(&mut p, "LIST 99999999999999999999999"),
        "-ERR not that many messages\r\n"
    );
    assert_eq!(reply(&mut p, "DELE 1"), "+OK \r\n");
    assert_eq!(reply(&mut p, "DELE 1"), "-ERR already deleted\r\n");
    assert_eq!(reply(&mut p, "RETR 1"), "-ERR already deleted\r\n");
}

#[test]
fn last_tracks_only_dele_and_rset_clears_it() {
    let mut p = session();
    assert_eq!(reply(&mut p, "LAST"), "+OK 0\r\n");
    assert!(matches!(p.command(b"RETR 3"), Step::Send { .. }));
    assert_eq!(reply(&mut p, "LAST"), "+OK 0\r\n");
    assert_eq!(reply(&mut p, "DELE 2"), "+OK \r\n");
    assert_eq!(reply(&mut p, "DELE 1"), "+OK \r\n");
    assert_eq!(reply(&mut p, "LAST"), "+OK 2\r\n");
    assert_eq!(reply(&mut p, "RSET"), "+OK \r\n");
    assert_eq!(reply(&mut p, "LAST"), "+OK 0\r\n");
    assert_eq!(reply(&mut p, "STAT"), "+OK 3 60\r\n");
    assert_eq!(reply(&mut p, "DELE 1"), "+OK \r\n");
}

#[test]
fn retr_and_top_name_the_file_and_the_line_count() {
    let mut p = session();
    let send = |path: &str, body_lines| Step::Send {
        path: PathBuf::from(path),
        body_lines,
    };
    assert_eq!(p.command(b"RETR 1"), send("new/100.1.host", None));
    assert_eq!(p.command(b"TOP 2 5"), send("cur/123.456.host:2,S", Some(5)));
    assert_eq!(
        p.command(b"TOP 2   0"),
        send("cur/123.456.host:2,S", Some(0))
    );
    assert_eq!(p.command(b"TOP 2"), send("cur/123.456.host:2,S", None));
    assert_eq!(p.command(b"TOP 2 x"), send("cur/123.456.host:2,S", None));
    assert_eq!(p.command(b"RETR 3 1"), send("new/300.3.host", Some(1)));
}

#[test]
fn other_commands_are_unimplemented() {
    let mut p = session();
    for c in ["USER joe", "PASS x", "APOP a b", "CAPA", "STLS", ""] {
        assert_eq!(reply(&mut p, c), "-ERR unimplemented\r\n", "{c}");
    }
    assert_eq!(reply(&mut p, "NOOP"), "+OK \r\n");
}

#[test]
fn quit_unlinks_deleted_and_moves_new_to_cur() {
    let mut p = session();
    reply(&mut p, "DELE 3");
    assert_eq!(
        p.command(b"QUIT"),
        Step::Quit(vec![
            QuitOp::ToCur {
                from: PathBuf::from("new/100.1.host"),
                to: PathBuf::from("cur/100.1.host:2,"),
            },
            QuitOp::Unlink(PathBuf::from("new/300.3.host")),
        ])
    );
    assert_eq!(quit_reply(0), b"+OK \r\n");
    assert_eq!(
        quit_reply(2),
        b"-ERR unable to unlink all deleted messages\r\n\
          -ERR unable to unlink all deleted messages\r\n+OK \r\n"
    );
}

#[test]
fn an_empty_maildir() {
    let mut p = Pop3d::new(Vec::new());
    assert_eq!(reply(&mut p, "STAT"), "+OK 0 0\r\n");
    assert_eq!(reply(&mut p, "LIST"), "+OK \r\n.\r\n");
    assert_eq!(reply(&mut p, "RETR 1"), "-ERR not that many messages\r\n");
    assert_eq!(p.command(b"QUIT"), Step::Quit(Vec::new()));
}
