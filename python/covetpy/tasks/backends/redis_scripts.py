"""The Lua scripts of the Redis broker: each step that touches more than one key runs as
one script, so a crash of the client between two commands cannot lose or double a task.

Some scripts name keys they compute (the queue stream of a delayed message): fine on one
Redis server (the supported set-up), not on Redis Cluster.
"""

from __future__ import annotations

__all__ = [
    "CANCEL",
    "DEAD",
    "ENQUEUE",
    "ENQUEUE_MANY",
    "FETCH",
    "KEEP_ALIVE",
    "PROMOTE",
    "RELEASE",
    "REQUEUE",
]

# KEYS: stream, idempotency key (or ''), delayed zset, delayed hash.
# ARGV: data, task id, key ttl ms (0: no key), due ms (0: at once).
# -> {1, entry id or ''} stored; {0, first id} when the key was seen.
ENQUEUE = """
if tonumber(ARGV[3]) > 0 then
  local seen = redis.call('GET', KEYS[2])
  if seen then return {0, seen} end
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
end
if tonumber(ARGV[4]) > 0 then
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[2])
  redis.call('HSET', KEYS[4], ARGV[2], KEYS[1] .. '\\n' .. ARGV[1])
  return {1, ''}
end
return {1, redis.call('XADD', KEYS[1], '*', 'm', ARGV[1])}
"""

# KEYS: stream. ARGV: the messages. One call for a batch of plain enqueues (no key, no delay):
# a pipeline of XADDs costs the client a reply to parse per message, this one reply.
# -> the entry ids, in order.
ENQUEUE_MANY = """
local ids = {}
for i = 1, #ARGV do
  ids[i] = redis.call('XADD', KEYS[1], '*', 'm', ARGV[i])
end
return ids
"""

# Takes up to ARGV[3] new entries, from the streams in KEYS in order (highest priority
# first): a non-blocking XREADGROUP per stream until the count is reached.
# ARGV: group, consumer, count. -> {stream index, entry id, data, ...}
FETCH = """
local left = tonumber(ARGV[3])
local out = {}
for i = 1, #KEYS do
  if left <= 0 then break end
  local r = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', left,
                       'STREAMS', KEYS[i], '>')
  if r then
    for _, e in ipairs(r[1][2]) do
      out[#out + 1] = i
      out[#out + 1] = e[1]
      out[#out + 1] = e[2][2]
      left = left - 1
    end
  end
end
return out
"""

# KEYS: stream, delayed zset, delayed hash. ARGV: group, entry id, task id, due ms, data.
REQUEUE = """
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
redis.call('HSET', KEYS[3], ARGV[3], KEYS[1] .. '\\n' .. ARGV[5])
return 1
"""

# KEYS: stream. ARGV: group, entry id, data. Back at the end of its queue.
RELEASE = """
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('XADD', KEYS[1], '*', 'm', ARGV[3])
return 1
"""

# KEYS: stream (or ''), dead stream. ARGV: group, entry id (or ''), data, reason, task id.
DEAD = """
if ARGV[2] ~= '' then
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
  redis.call('XDEL', KEYS[1], ARGV[2])
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', 100000, '*', 'm', ARGV[3], 'r', ARGV[4], 'i', ARGV[5])
return 1
"""

# KEYS: delayed zset, delayed hash. ARGV: now ms, limit.
# -> {moved, ms of the next due or false}
PROMOTE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, id in ipairs(due) do
  local v = redis.call('HGET', KEYS[2], id)
  if v then
    local nl = string.find(v, '\\n', 1, true)
    redis.call('XADD', string.sub(v, 1, nl - 1), '*', 'm', string.sub(v, nl + 1))
    redis.call('HDEL', KEYS[2], id)
  end
  redis.call('ZREM', KEYS[1], id)
end
local nxt = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {#due, nxt[2] or false}
"""

# KEYS: delayed zset, delayed hash, stream (or the zset again). ARGV: task id, group, entry id
# (or ''). A queued entry is removed unless a worker took it (it is in the group's pending
# list); -> 1 removed, 0 too late.
CANCEL = """
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then
  redis.call('HDEL', KEYS[2], ARGV[1])
  return 1
end
if ARGV[3] == '' then return 0 end
local ok, p = pcall(redis.call, 'XPENDING', KEYS[3], ARGV[2], ARGV[3], ARGV[3], 1)
if ok and p[1] then return 0 end
return redis.call('XDEL', KEYS[3], ARGV[3])
"""

# Resets the idle time of the entries this consumer still owns (XCLAIM ... JUSTID counts no
# delivery); an entry another consumer has taken over meanwhile is left to it.
# KEYS: stream. ARGV: group, consumer, entry ids...
KEEP_ALIVE = """
local kept = 0
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if p[1] and p[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    kept = kept + 1
  end
end
return kept
"""
