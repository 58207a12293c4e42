//! Every command on a real redis-server (with an ACL user and password) and a real 3-master
//! Redis Cluster, and the Redis failures an operator meets.

#[path = "../../core/tests/support/redis.rs"]
mod redis_server;
mod support;

use redis_server::{RedisServer, redis_cli};
use support::{every_command, omnisession, secret};

const PASSWORD: &str = "s3cret-Pa55word";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_on_one_node_with_a_password() {
    let server = RedisServer::single(&[]);
    let port = server.port(0).to_string();
    let pass = format!(">{PASSWORD}");
    let acl = redis_cli(&[
        "-p", &port, "ACL", "SETUSER", "admin", "on", &pass, "~*", "&*", "+@all",
    ]);
    assert!(acl.contains("OK"), "{acl}");
    secret(PASSWORD);
    let urls = vec![format!("redis://admin:{PASSWORD}@127.0.0.1:{port}")];
    let corrupt = |id: &str| {
        let key = format!("session:{id}");
        assert!(redis_cli(&["-p", &port, "SET", &key, "{\"id\":"]).contains("OK"));
    };
    let present =
        |id: &str| redis_cli(&["-p", &port, "EXISTS", &format!("session:{id}")]).trim() == "1";
    every_command(&urls, corrupt, present, false).await;

    // A key of another type is a bad record too, reported and left.
    let id = omnisession::id::generate();
    secret(&id);
    redis_cli(&["-p", &port, "HSET", &format!("session:{id}"), "a", "b"]);
    let run = omnisession(&["check", "--json", "--url", &urls[0]]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.json()["bad"].as_array().unwrap().len(), 2, "{run:?}");

    // A wrong password names the setting to fix, and is not printed.
    let wrong = "not-the-Pa55word";
    secret(wrong);
    let run = omnisession(&[
        "stats",
        "--url",
        &format!("redis://admin:{wrong}@127.0.0.1:{port}"),
    ]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("CONFIG_INVALID"), "{run:?}");
    assert!(run.stderr.contains("admin:***@127.0.0.1"), "{run:?}");
}

#[test]
fn a_server_that_is_not_there_is_unavailable() {
    secret(PASSWORD);
    let port = redis_server::free_port();
    let url = format!("redis://admin:{PASSWORD}@127.0.0.1:{port}");
    let run = omnisession(&["stats", "--url", &url]);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains("BACKEND_UNAVAILABLE"), "{run:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_on_a_cluster() {
    let server = RedisServer::cluster();
    let urls = server.urls.clone();
    let port = server.port(0).to_string();
    let corrupt = |id: &str| {
        let key = format!("session:{id}");
        assert!(redis_cli(&["-c", "-p", &port, "SET", &key, "[1,2"]).contains("OK"));
    };
    let present = |id: &str| {
        redis_cli(&["-c", "-p", &port, "EXISTS", &format!("session:{id}")]).trim() == "1"
    };
    every_command(&urls, corrupt, present, false).await;
    // One seed with --cluster finds the whole cluster.
    let run = omnisession(&["stats", "--json", "--cluster", "--url", &urls[0]]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["bad"], 1, "{run:?}");
}
