//! Connection commands over a real socket: CLIENT, RESET, AUTH with requirepass.

use std::io::Read;

use crate::harness::{cmd, TestServer};

#[test]
fn client_setname_getname_list_and_info() {
    let server = TestServer::start();
    let mut con = server.client();
    let name: Option<String> = redis::cmd("CLIENT").arg("GETNAME").query(&mut con).unwrap();
    assert_eq!(name, None);
    let _: () = redis::cmd("CLIENT").arg(&["SETNAME", "worker-1"]).query(&mut con).unwrap();
    let name: String = redis::cmd("CLIENT").arg("GETNAME").query(&mut con).unwrap();
    assert_eq!(name, "worker-1");
    assert!(cmd(&mut con, &["CLIENT", "SETNAME", "a b"]).is_err());
    let id: i64 = redis::cmd("CLIENT").arg("ID").query(&mut con).unwrap();
    let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut con).unwrap();
    let line = list.lines().find(|l| l.starts_with(&format!("id={id} "))).unwrap();
    assert!(line.contains(" name=worker-1 "), "{line}");
    assert!(line.contains(" flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 watch=0 qbuf=26 "), "{line}");
    assert!(line.contains(" cmd=client|list user=default redir=-1 resp=2 lib-name="), "{line}");
    let _: () =
        redis::cmd("CLIENT").arg(&["SETINFO", "LIB-NAME", "mylib"]).query(&mut con).unwrap();
    let info: String = redis::cmd("CLIENT").arg("INFO").query(&mut con).unwrap();
    assert!(info.contains(" lib-name=mylib lib-ver=") && info.ends_with('\n'));
    let err = cmd(&mut con, &["CLIENT", "LIST", "TYPE", "nosuch"]).unwrap_err();
    assert!(err.to_string().contains("Unknown client type 'nosuch'"));
}

#[test]
fn client_kill_closes_the_other_connection() {
    let server = TestServer::start();
    let mut con = server.client();
    let mut victim = server.raw();
    std::io::Write::write_all(&mut victim, b"CLIENT ID\r\n").unwrap();
    let mut buf = [0u8; 64];
    let n = victim.read(&mut buf).unwrap();
    let id = String::from_utf8_lossy(&buf[1..n]).trim().to_string();
    let killed: i64 = redis::cmd("CLIENT").arg(&["KILL", "ID", &id]).query(&mut con).unwrap();
    assert_eq!(killed, 1);
    // The victim sees end-of-stream (or a reset), not its 5 s read timeout.
    match victim.read(&mut buf) {
        Ok(0) => {}
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
        Ok(n) => panic!("victim got {n} bytes after being killed"),
    }
    let err = cmd(&mut con, &["CLIENT", "KILL", "ID", "0"]).unwrap_err();
    assert!(err.to_string().contains("client-id should be greater than 0"));
    let err = cmd(&mut con, &["CLIENT", "KILL", "10.0.0.1:1"]).unwrap_err();
    assert!(err.to_string().contains("No such client"));
    // Old ip:port form and filters against this connection's own address are skipped.
    let killed: i64 = redis::cmd("CLIENT").arg(&["KILL", "SKIPME", "yes"]).query(&mut con).unwrap();
    assert_eq!(killed, 0);
}

#[test]
fn client_reply_off_skip_and_on() {
    let server = TestServer::start();
    let mut s = server.raw();
    let out = crate::harness::raw_exchange(
        &mut s,
        b"CLIENT REPLY OFF\r\nPING a\r\nCLIENT REPLY ON\r\nPING b\r\nCLIENT REPLY SKIP\r\nPING c\r\nPING d\r\n",
        "+OK\r\n$1\r\nb\r\n$1\r\nd\r\n".len(),
    );
    assert_eq!(out, b"+OK\r\n$1\r\nb\r\n$1\r\nd\r\n");
}

#[test]
fn requirepass_gates_commands_until_auth() {
    let server = TestServer::start();
    let mut admin = server.client();
    let _: () =
        redis::cmd("CONFIG").arg(&["SET", "requirepass", "secret"]).query(&mut admin).unwrap();
    // New connections must authenticate; RESET drops authentication again.
    let mut s = server.raw();
    let script: &[(&[u8], &[u8])] = &[
        (b"GET k\r\n", b"-NOAUTH Authentication required.\r\n"),
        (b"AUTH wrong\r\n", b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"),
        (b"AUTH secret\r\n", b"+OK\r\n"),
        (b"GET k\r\n", b"$-1\r\n"),
        (b"RESET\r\n", b"+RESET\r\n"),
        (b"GET k\r\n", b"-NOAUTH Authentication required.\r\n"),
    ];
    for (input, expected) in script {
        let out = crate::harness::raw_exchange(&mut s, input, expected.len());
        assert_eq!(String::from_utf8_lossy(&out), String::from_utf8_lossy(expected));
    }
}

#[test]
fn reset_returns_to_db_zero_and_clears_the_name() {
    let server = TestServer::start();
    let mut con = server.client();
    let _: () = redis::cmd("SELECT").arg(3).query(&mut con).unwrap();
    let _: () = redis::cmd("CLIENT").arg(&["SETNAME", "x"]).query(&mut con).unwrap();
    let _: String = redis::cmd("RESET").query(&mut con).unwrap();
    let info: String = redis::cmd("CLIENT").arg("INFO").query(&mut con).unwrap();
    assert!(info.contains(" name= ") && info.contains(" db=0 "), "{info}");
}
