//! Where a captured command's keys are, for routing on a cluster, telling keys that now span slots,
//! and rewriting keys on `--loop` passes. A small table of the common commands; a command not in it
//! is routed by its first argument and has nothing rewritten (README says so).

use bytes::{Bytes, BytesMut};

use crate::cluster::slot::slot_of;

/// The positions of a command's keys in its arguments (the name is 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Spec {
    /// Argument 1.
    First,
    /// Arguments 1 and 2 (RENAME, LMOVE...).
    Two,
    /// Every argument from 1 (DEL, MGET...).
    All,
    /// Every argument from 1 but the last (BLPOP's timeout).
    AllButLast,
    /// 1, 3, 5... (MSET).
    Pairs,
    /// From 2 on (BITOP op dest keys...).
    FromSecond,
    /// A count at this position, that many keys after it (EVAL script numkeys k...).
    Counted(usize),
    /// Argument 1, then a count at 2 and that many keys (ZUNIONSTORE dest numkeys k...).
    DestCounted,
    /// After STREAMS, the first half of what follows (XREAD).
    Streams,
    /// Argument 2 (XGROUP CREATE key, OBJECT ENCODING key).
    Second,
    /// No keys (PING, INFO...).
    None,
}

fn spec(name: &[u8]) -> Option<Spec> {
    let upper = name.to_ascii_uppercase();
    let s: &str = std::str::from_utf8(&upper).ok()?;
    Some(match s {
        "GET" | "SET" | "SETNX" | "SETEX" | "PSETEX" | "GETSET" | "GETDEL" | "GETEX" | "APPEND"
        | "STRLEN" | "INCR" | "DECR" | "INCRBY" | "DECRBY" | "INCRBYFLOAT" | "GETRANGE"
        | "SETRANGE" | "SETBIT" | "GETBIT" | "BITCOUNT" | "BITPOS" | "BITFIELD" | "EXPIRE"
        | "PEXPIRE" | "EXPIREAT" | "PEXPIREAT" | "TTL" | "PTTL" | "PERSIST" | "TYPE" | "DUMP"
        | "RESTORE" | "LPUSH" | "RPUSH" | "LPUSHX" | "RPUSHX" | "LPOP" | "RPOP" | "LLEN"
        | "LRANGE" | "LINDEX" | "LSET" | "LREM" | "LTRIM" | "LINSERT" | "LPOS" | "HSET"
        | "HSETNX" | "HGET" | "HMSET" | "HMGET" | "HDEL" | "HLEN" | "HKEYS" | "HVALS"
        | "HGETALL" | "HEXISTS" | "HINCRBY" | "HINCRBYFLOAT" | "HSTRLEN" | "HSCAN"
        | "HRANDFIELD" | "SADD" | "SREM" | "SMEMBERS" | "SISMEMBER" | "SMISMEMBER" | "SCARD"
        | "SPOP" | "SRANDMEMBER" | "SSCAN" | "ZADD" | "ZREM" | "ZSCORE" | "ZMSCORE" | "ZINCRBY"
        | "ZCARD" | "ZCOUNT" | "ZRANGE" | "ZREVRANGE" | "ZRANGEBYSCORE" | "ZREVRANGEBYSCORE"
        | "ZRANGEBYLEX" | "ZREVRANGEBYLEX" | "ZRANK" | "ZREVRANK" | "ZREMRANGEBYRANK"
        | "ZREMRANGEBYSCORE" | "ZREMRANGEBYLEX" | "ZLEXCOUNT" | "ZPOPMIN" | "ZPOPMAX" | "ZSCAN"
        | "ZRANDMEMBER" | "XADD" | "XLEN" | "XRANGE" | "XREVRANGE" | "XDEL" | "XTRIM" | "XACK"
        | "XCLAIM" | "XAUTOCLAIM" | "XPENDING" | "PFADD" | "GEOADD" | "GEODIST" | "GEOPOS"
        | "GEOHASH" | "GEOSEARCH" | "GEORADIUS" => Spec::First,
        "RENAME" | "RENAMENX" | "RPOPLPUSH" | "LMOVE" | "SMOVE" | "COPY" | "BLMOVE"
        | "BRPOPLPUSH" | "GEOSEARCHSTORE" => Spec::Two,
        "DEL" | "UNLINK" | "EXISTS" | "TOUCH" | "MGET" | "SINTER" | "SUNION" | "SDIFF"
        | "SINTERSTORE" | "SUNIONSTORE" | "SDIFFSTORE" | "PFCOUNT" | "PFMERGE" | "WATCH" => {
            Spec::All
        }
        "BLPOP" | "BRPOP" | "BZPOPMIN" | "BZPOPMAX" => Spec::AllButLast,
        "MSET" | "MSETNX" => Spec::Pairs,
        "BITOP" => Spec::FromSecond,
        "EVAL" | "EVALSHA" | "EVAL_RO" | "EVALSHA_RO" | "FCALL" | "FCALL_RO" => Spec::Counted(2),
        "ZUNION" | "ZINTER" | "ZDIFF" | "SINTERCARD" | "ZINTERCARD" | "LMPOP" | "ZMPOP" => {
            Spec::Counted(1)
        }
        "ZUNIONSTORE" | "ZINTERSTORE" | "ZDIFFSTORE" => Spec::DestCounted,
        "XREAD" | "XREADGROUP" => Spec::Streams,
        "XGROUP" | "OBJECT" | "XINFO" => Spec::Second,
        "PING" | "ECHO" | "INFO" | "DBSIZE" | "TIME" | "MULTI" | "EXEC" | "DISCARD" | "UNWATCH"
        | "SELECT" | "SCAN" | "KEYS" | "RANDOMKEY" | "CLIENT" | "COMMAND" | "HELLO" | "AUTH"
        | "SCRIPT" | "FUNCTION" | "PUBLISH" | "CONFIG" | "SLOWLOG" | "LATENCY" | "MEMORY"
        | "WAIT" | "LASTSAVE" | "ROLE" | "QUIT" | "RESET" => Spec::None,
        _ => return None,
    })
}

fn count_at(args: &[Bytes], i: usize) -> usize {
    args.get(i)
        .and_then(|a| std::str::from_utf8(a).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The argument positions of `args`' keys; None for a command not in the table.
pub fn positions(args: &[Bytes]) -> Option<Vec<usize>> {
    let n = args.len();
    let range = |from: usize, to: usize| (from..to.min(n)).collect::<Vec<_>>();
    Some(match spec(args.first()?)? {
        Spec::First => range(1, 2),
        Spec::Two => range(1, 3),
        Spec::All => range(1, n),
        Spec::AllButLast => range(1, n.saturating_sub(1)),
        Spec::Pairs => (1..n).step_by(2).collect(),
        Spec::FromSecond => range(2, n),
        Spec::Counted(at) => range(at + 1, at + 1 + count_at(args, at)),
        Spec::DestCounted => {
            let mut v = range(1, 2);
            v.extend(range(3, 3 + count_at(args, 2)));
            v
        }
        Spec::Streams => {
            let s = args
                .iter()
                .position(|a| a.eq_ignore_ascii_case(b"STREAMS"))
                .map_or(n, |i| i + 1);
            range(s, s + (n - s.min(n)) / 2)
        }
        Spec::Second => range(2, 3),
        Spec::None => Vec::new(),
    })
}

/// Where a command goes on a cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// Its keys' slot.
    Of(u16),
    /// No key: any node.
    Any,
    /// Its keys hash to different slots: the cluster refuses it (CROSSSLOT).
    Cross,
}

/// The slot of `args`' keys (a command not in the table: its first argument's, if it has one).
pub fn slot(args: &[Bytes]) -> Slot {
    let keys = positions(args).unwrap_or_else(|| if args.len() > 1 { vec![1] } else { vec![] });
    let mut slots = keys.iter().map(|&i| slot_of(&args[i]));
    let Some(first) = slots.next() else {
        return Slot::Any;
    };
    if slots.all(|s| s == first) {
        Slot::Of(first)
    } else {
        Slot::Cross
    }
}

/// `args` with `suffix` appended to each key it knows (pass 2.. of `--loop-rewrite`).
pub fn rewrite(args: &mut [Bytes], suffix: &[u8]) {
    for i in positions(args).unwrap_or_default() {
        let mut k = BytesMut::with_capacity(args[i].len() + suffix.len());
        k.extend_from_slice(&args[i]);
        k.extend_from_slice(suffix);
        args[i] = k.freeze();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(words: &[&str]) -> Vec<Bytes> {
        words
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    #[test]
    fn key_positions() {
        assert_eq!(positions(&cmd(&["set", "k", "v"])), Some(vec![1]));
        assert_eq!(
            positions(&cmd(&["MSET", "a", "1", "b", "2"])),
            Some(vec![1, 3])
        );
        assert_eq!(positions(&cmd(&["DEL", "a", "b"])), Some(vec![1, 2]));
        assert_eq!(positions(&cmd(&["BLPOP", "a", "b", "0"])), Some(vec![1, 2]));
        assert_eq!(
            positions(&cmd(&["EVAL", "s", "2", "a", "b", "x"])),
            Some(vec![3, 4])
        );
        assert_eq!(
            positions(&cmd(&["ZUNIONSTORE", "d", "2", "a", "b"])),
            Some(vec![1, 3, 4])
        );
        assert_eq!(
            positions(&cmd(&[
                "XREAD", "COUNT", "1", "STREAMS", "s1", "s2", "0", "0"
            ])),
            Some(vec![4, 5])
        );
        assert_eq!(positions(&cmd(&["PING"])), Some(vec![]));
        assert_eq!(positions(&cmd(&["MYCMD", "x"])), None);
    }

    #[test]
    fn slots_and_rewrite() {
        assert_eq!(slot(&cmd(&["PING"])), Slot::Any);
        assert_eq!(slot(&cmd(&["GET", "k"])), Slot::Of(slot_of(b"k")));
        assert_eq!(
            slot(&cmd(&["MGET", "{u}a", "{u}b"])),
            Slot::Of(slot_of(b"u"))
        );
        assert_eq!(slot(&cmd(&["MGET", "a", "b"])), Slot::Cross);
        assert_eq!(slot(&cmd(&["MYCMD", "x", "y"])), Slot::Of(slot_of(b"x")));
        let mut c = cmd(&["MSET", "a", "1", "b", "2"]);
        rewrite(&mut c, b":pass2");
        assert_eq!(c, cmd(&["MSET", "a:pass2", "1", "b:pass2", "2"]));
        let mut c = cmd(&["MYCMD", "x"]);
        rewrite(&mut c, b":pass2");
        assert_eq!(c, cmd(&["MYCMD", "x"]));
    }
}
