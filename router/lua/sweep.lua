-- ARGV: ttl_ms batch relax_batch → returns {1 when more is due else 0, uid assigned while freeing agents, ...}. Frees agents
-- whose reservation expired, whose wrap-up ended or whose ring-no-answer penalty ended: at most `batch` agents per
-- run in all (each may look through the waiting lines), so one run stays short; the caller runs it again while
-- more is due. Also indexes again up to `relax_batch` (default 10) waiting calls whose relaxation step came due
-- (about 12 commands each) and trims the offer log to its last minute.
local now = now_ms()
local ttl_ms = tonumber(ARGV[1])
local budget = tonumber(ARGV[2] or '20')
local relax_batch = tonumber(ARGV[3] or '10')
local assigned = {0}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'reserved', '-inf', now, 'LIMIT', 0, budget)) do
  budget = budget - 1
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
if budget > 0 then
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'wrapping', '-inf', now, 'LIMIT', 0, budget)) do
    budget = budget - 1
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
end
if budget > 0 then
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'skipping', '-inf', now, 'LIMIT', 0, budget)) do
    budget = budget - 1
    redis.call('ZREM', P .. 'skipping', id)
    local agent = hash(P .. 'agent:' .. id)
    if agent.state == 'available' then
      remove_idle(id, agent)
      local uid = agent_free(id, now, ttl_ms, true)
      if uid then assigned[#assigned + 1] = uid end
    end
  end
end
if budget <= 0 then
  for _, name in ipairs({'reserved', 'wrapping', 'skipping'}) do
    if #redis.call('ZRANGEBYSCORE', P .. name, '-inf', now, 'LIMIT', 0, 1) > 0 then assigned[1] = 1 end
  end
end
if catch_up_relaxation(now, relax_batch) >= relax_batch then assigned[1] = 1 end
redis.call('ZREMRANGEBYSCORE', P .. 'offerlog', '-inf', now - 60000)
return assigned
