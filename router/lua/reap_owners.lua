-- ARGV: ttl_ms previous batch → the calls of every owner whose lease lapsed (and of `previous`, this instance's own
-- earlier life, when its id is stable) leave the line for good (state `left`, never re-queued: the sweep only puts
-- `offered` calls back), then the agents reserved or ringing for them are freed. At most `batch` calls, then at
-- most `batch` agents, per run (a dead instance's 10,000 calls are many short runs, not one long one): the agents
-- to free wait in `reaping` until every dead call is out of line, so a freed agent is never handed a dead call.
-- Returns {calls released, 1 when there is more to do else 0, uid given to a freed agent, ...}
local ttl_ms, previous, batch = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3] or '200')
local now = now_ms()
local released, out = 0, {0, 0}
local budget = batch
for _, owner in ipairs(redis.call('SMEMBERS', P .. 'owners')) do
  if budget <= 0 then break end
  if owner == previous or redis.call('EXISTS', P .. 'owner:' .. owner) == 0 then
    local set = P .. 'owned:' .. owner
    local uids = redis.call('SPOP', set, budget)
    for _, uid in ipairs(uids) do
      local key = P .. 'call:' .. uid
      local call = hash(key)
      if call.state == 'waiting' or call.state == 'offered' then
        unqueue(uid, call)
        redis.call('HSET', key, 'state', 'left')
        explain(uid, now .. ' owner ' .. owner .. ' gone: out of line for good')
        released = released + 1
        if call.state == 'offered' and call.agent and call.agent ~= '' then
          redis.call('RPUSH', P .. 'reaping', call.agent .. ' ' .. uid)
        end
      end
    end
    budget = budget - #uids
    if redis.call('SCARD', set) == 0 then
      redis.call('DEL', set)
      if owner ~= previous then redis.call('SREM', P .. 'owners', owner) end
    else
      out[2] = 1
    end
  end
end
out[1] = released
if out[2] == 1 or budget <= 0 then out[2] = 1; return out end
-- agents last: every dead call is out of line first
local freeing = redis.call('LPOP', P .. 'reaping', batch) or {}
for _, pair in ipairs(freeing) do
  local id, uid = string.match(pair, '^(%S+) (%S+)$')
  local a = hash(P .. 'agent:' .. id)
  if (a.state == 'reserved' or a.state == 'ringing') and a.call == uid then
    local given = agent_free(id, now, ttl_ms, true)
    if given then out[#out + 1] = given end
  end
end
if redis.call('EXISTS', P .. 'reaping') == 1 then out[2] = 1 end
return out
