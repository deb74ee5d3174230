-- ARGV: instance lease_ms → renews this instance's lease, forgets its calls that are done with routing, and
-- returns {seeded (1/0: the sentinel written at seed is there), agent id, state, agent id, state, ...}
local instance, lease_ms = ARGV[1], tonumber(ARGV[2])
redis.call('SET', P .. 'owner:' .. instance, '1', 'PX', lease_ms)
redis.call('SADD', P .. 'owners', instance)
local owned = P .. 'owned:' .. instance
for _, uid in ipairs(redis.call('SRANDMEMBER', owned, 200)) do
  local state = redis.call('HGET', P .. 'call:' .. uid, 'state')
  if state == 'left' or state == 'overflow' then redis.call('SREM', owned, uid) end
end
local out = {redis.call('EXISTS', P .. 'seeded')}
local flat = redis.call('HGETALL', P .. 'states')
for i = 1, #flat do out[#out + 1] = flat[i] end
return out
