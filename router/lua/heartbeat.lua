-- ARGV: instance lease_ms cursor → renews this instance's lease, forgets its calls that are done with routing, and
-- returns {seeded (1/0: the sentinel written at seed is there), next cursor, agent id, state, agent id, state, ...}:
-- one page of the agents' states from `cursor` (HSCAN, about 500 per beat, so the script stays short however many
-- agents there are; a cursor of 0 back means a full pass ended)
local instance, lease_ms, cursor = ARGV[1], tonumber(ARGV[2]), ARGV[3] or '0'
redis.call('SET', P .. 'owner:' .. instance, '1', 'PX', lease_ms)
redis.call('SADD', P .. 'owners', instance)
local owned = P .. 'owned:' .. instance
for _, uid in ipairs(redis.call('SRANDMEMBER', owned, 200)) do
  local state = redis.call('HGET', P .. 'call:' .. uid, 'state')
  if state == 'left' or state == 'overflow' then redis.call('SREM', owned, uid) end
end
local page = redis.call('HSCAN', P .. 'states', cursor, 'COUNT', 500)
local out = {redis.call('EXISTS', P .. 'seeded'), page[1]}
local flat = page[2]
for i = 1, #flat do out[#out + 1] = flat[i] end
return out
