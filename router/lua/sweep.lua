-- ARGV: ttl_ms → returns flat list of uids assigned while freeing expired agents. Also indexes again the waiting
-- calls whose relaxation step came due (bounded per run) and trims the offer log to its last minute.
local now = now_ms()
local ttl_ms = tonumber(ARGV[1])
local assigned = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'reserved', '-inf', now, 'LIMIT', 0, 100)) do
  local agent = hash(P .. 'agent:' .. id)
  redis.call('ZREM', P .. 'reserved', id)
  if (agent.state == 'reserved' or agent.state == 'ringing') and agent.call then
    local ckey = P .. 'call:' .. agent.call
    local call = hash(ckey)
    if call.state == 'offered' and call.agent == id then
      redis.call('HSET', ckey, 'state', 'waiting', 'agent', '')
      call.state = 'waiting'
      enqueue(agent.call, call, now)
      explain(agent.call, now .. ' reservation of ' .. id .. ' expired: back in line')
    end
    local uid = agent_free(id, now, ttl_ms, true)
    if uid then assigned[#assigned + 1] = uid end
  end
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'wrapping', '-inf', now, 'LIMIT', 0, 100)) do
  redis.call('ZREM', P .. 'wrapping', id)
  local agent = hash(P .. 'agent:' .. id)
  if agent.state == 'wrap_up' then
    if agent.pause_after and agent.pause_after ~= '' then
      redis.call('HDEL', P .. 'agent:' .. id, 'pause_after')
      set_state(id, 'paused', agent.pause_after, now)
    else
      local uid = agent_free(id, now, ttl_ms, false)
      if uid then assigned[#assigned + 1] = uid end
    end
  end
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'skipping', '-inf', now, 'LIMIT', 0, 100)) do
  redis.call('ZREM', P .. 'skipping', id)
  local agent = hash(P .. 'agent:' .. id)
  if agent.state == 'available' then
    remove_idle(id, agent)
    local uid = agent_free(id, now, ttl_ms, true)
    if uid then assigned[#assigned + 1] = uid end
  end
end
catch_up_relaxation(now, 10)
redis.call('ZREMRANGEBYSCORE', P .. 'offerlog', '-inf', now - 60000)
return assigned
