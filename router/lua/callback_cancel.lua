-- ARGV: number → the customer called in again and reached an agent: their pending requests (not one being dialled)
-- end as `cancelled`; their calls leave the line. Returns the cancelled request ids.
local out = {}
local now = now_ms()
for _, rid in ipairs(redis.call('SMEMBERS', P .. 'callbacks:number:' .. ARGV[1])) do
  local key = P .. 'callback:' .. rid
  local state = redis.call('HGET', key, 'state')
  if state == 'waiting' or state == 'scheduled' or state == 'retry' then
    redis.call('HSET', key, 'state', 'done', 'outcome', 'cancelled', 'ended', now)
    redis.call('EXPIRE', key, 86400)
    redis.call('SREM', P .. 'callbacks', rid)
    redis.call('SREM', P .. 'callbacks:number:' .. ARGV[1], rid)
    redis.call('ZREM', P .. 'callbacks:due', rid)
    local line = P .. 'call:' .. rid
    local call = hash(line)
    if call.state == 'waiting' then
      unqueue(rid, call)
      redis.call('HSET', line, 'state', 'left')
      explain(rid, now .. ' callback cancelled: the customer reached an agent')
    end
    out[#out + 1] = rid
  end
end
return out
