-- Replaces one call's whole context record and pushes its expiry back, atomically (the call's own slot).
-- KEYS[1]: the call hash. ARGV: ttl_seconds, then field value field value ...
local key = KEYS[1]
redis.call('DEL', key)
redis.call('HSET', key, unpack(ARGV, 2))
redis.call('EXPIRE', key, ARGV[1])
return 1
