-- ARGV: agent action reason ttl_ms; action: login | logout | pause | resume. Returns {state, uid assigned or ''}
local id, action, reason, ttl_ms = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local key = P .. 'agent:' .. id
local agent = hash(key)
if agent.state == nil then return {'unknown', ''} end
local now = now_ms()
local state = agent.state
if action == 'logout' then
  if state == 'on_call' or state == 'ringing' or state == 'reserved' then return {'busy:' .. state, ''} end
  remove_idle(id, agent)
  redis.call('ZREM', P .. 'wrapping', id)
  set_state(id, 'logged_out', '', now)
  return {'logged_out', ''}
elseif action == 'pause' then
  if state == 'logged_out' then return {'refused:logged_out', ''} end
  remove_idle(id, agent)
  if state == 'available' or state == 'wrap_up' then
    redis.call('ZREM', P .. 'wrapping', id)
    set_state(id, 'paused', reason, now)
    return {'paused', ''}
  end
  redis.call('HSET', key, 'pause_after', reason)  -- pauses once the current call ends
  return {state, ''}
elseif action == 'login' or action == 'resume' then
  if action == 'login' and state ~= 'logged_out' then return {state, ''} end
  if action == 'resume' and state ~= 'paused' then return {state, ''} end
  local uid = agent_free(id, now, ttl_ms, false)
  return {'available', uid or ''}
end
return {'refused:' .. action, ''}
