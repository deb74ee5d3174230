-- ARGV: agent event ttl_ms wrap_up_ms [uid] → ringing | on_call | idle (device not in use) | hold | ended;
-- returns the new state and a call uid given to the agent if it became free
local id, event = ARGV[1], ARGV[2]
local ttl_ms, wrap_ms = tonumber(ARGV[3]), tonumber(ARGV[4])
local key = P .. 'agent:' .. id
local agent = hash(key)
local state = agent.state
if state == nil or state == 'logged_out' then return {state or 'unknown', ''} end
local now = now_ms()
if event == 'ringing' then
  if state == 'reserved' then set_state(id, 'ringing', '', now); return {'ringing', ''} end
elseif event == 'on_call' then
  if state == 'available' or state == 'reserved' or state == 'ringing' or state == 'wrap_up' then
    -- only an available agent is in the free-agent sets; a deadline field goes with its list (agent_free)
    if state == 'available' then remove_idle(id, agent) end
    if agent.reserved_until then redis.call('ZREM', P .. 'reserved', id) end
    if agent.wrap_until then redis.call('ZREM', P .. 'wrapping', id) end
    if agent.reserved_until or agent.wrap_until then redis.call('HDEL', key, 'reserved_until', 'wrap_until') end
    set_state(id, 'on_call', '', now)
    return {'on_call', ''}
  end
elseif event == 'hold' then
  -- the dialling side is still ringing or talking to this agent for this call: keep the reservation alive
  if (state == 'reserved' or state == 'ringing') and agent.call == ARGV[5] then
    redis.call('ZADD', P .. 'reserved', now + ttl_ms, id)
    redis.call('HSET', key, 'reserved_until', now + ttl_ms)
  end
  return {state, ''}
elseif event == 'ended' then
  -- the dialling side saw its bridged call end (also covers an AMI link that missed the device events)
  if agent.call ~= ARGV[5] or not (state == 'on_call' or state == 'reserved' or state == 'ringing') then
    return {state, ''}
  end
  state = 'on_call'
  event = 'idle'
end
if event == 'idle' and state == 'on_call' then
  local new_state, uid = call_ended_for(id, agent, now, ttl_ms, wrap_ms)
  return {new_state, uid}
end
return {state, ''}
