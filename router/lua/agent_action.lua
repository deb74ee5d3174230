-- ARGV: agent action reason ttl_ms; action: login | logout | pause | resume. Returns {state, uid assigned or ''}
local id, action, reason, ttl_ms = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local key = P .. 'agent:' .. id
local agent = hash(key)
if agent.state == nil then return {'unknown', ''} end
local now = now_ms()
local state = agent.state
if action == 'logout' then
  if state == 'on_call' or state == 'ringing' or state == 'reserved' then return {'busy:' .. state, ''} end
  -- only an available agent is in the free-agent sets, only one with `wrap_until` in `wrapping` (agent_free)
  if state == 'available' then remove_idle(id, agent) end
  if agent.wrap_until then redis.call('ZREM', P .. 'wrapping', id) end
  set_state(id, 'logged_out', '', now)
  return {'logged_out', ''}
elseif action == 'pause' then
  if state == 'logged_out' then return {'refused:logged_out', ''} end
  if state == 'available' then remove_idle(id, agent) end
  if state == 'available' or state == 'wrap_up' then
    if agent.wrap_until then redis.call('ZREM', P .. 'wrapping', id) end
    set_state(id, 'paused', reason, now)
    return {'paused', ''}
  end
  redis.call('HSET', key, 'pause_after', reason)  -- pauses once the current call ends
  return {state, ''}
elseif action == 'login' or action == 'resume' then
  if action == 'login' and state ~= 'logged_out' then return {state, ''} end
  if action == 'resume' and state ~= 'paused' then return {state, ''} end
  local uid = agent_free(id, now, ttl_ms, false, agent)
  return {'available', uid or ''}
end
return {'refused:' .. action, ''}
