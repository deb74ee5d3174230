-- ARGV: uid ttl_ms → the caller left (hung up, or the flow moved on): out of the queue, a reserved agent is freed
return call_left(ARGV[1], now_ms(), tonumber(ARGV[2]))
