-- ARGV: id name endpoint langs skills(billing:8,...) → creates or updates an agent's profile (state kept)
local id = ARGV[1]
local key = P .. 'agent:' .. id
local old = hash(key)
if old.state == 'available' then remove_idle(id, old) end
if old.skills then
  local _, order = parse_skills(old.skills)
  for _, s in ipairs(order) do redis.call('HDEL', key, 's:' .. s) end
end
if old.endpoint and old.endpoint ~= ARGV[3] then redis.call('HDEL', P .. 'endpoints', old.endpoint) end
redis.call('HSET', key, 'name', ARGV[2], 'endpoint', ARGV[3], 'langs', ARGV[4], 'skills', ARGV[5])
local levels, order = parse_skills(ARGV[5])
for _, s in ipairs(order) do redis.call('HSET', key, 's:' .. s, levels[s]) end
redis.call('SADD', P .. 'agents', id)
redis.call('HSET', P .. 'endpoints', ARGV[3], id)
if old.state == nil then
  local now = now_ms()
  set_state(id, 'logged_out', '', now)
  redis.call('HSET', key, 'idle_since', now)
elseif old.state == 'available' then
  add_idle(id, hash(key))
end
return old.state or 'logged_out'
