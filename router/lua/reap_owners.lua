-- ARGV: ttl_ms previous → the calls of every owner whose lease lapsed (and of `previous`, this instance's own
-- earlier life, when its id is stable) leave the line for good (state `left`, never re-queued: the sweep only puts
-- `offered` calls back), then the agents reserved or ringing for them are freed. Returns {calls released, uid given
-- to a freed agent, ...}
local ttl_ms, previous = tonumber(ARGV[1]), ARGV[2]
local now = now_ms()
local released, freeing, out = 0, {}, {0}
for _, owner in ipairs(redis.call('SMEMBERS', P .. 'owners')) do
  if owner == previous or redis.call('EXISTS', P .. 'owner:' .. owner) == 0 then
    local set = P .. 'owned:' .. owner
    for _, uid in ipairs(redis.call('SMEMBERS', set)) do
      local key = P .. 'call:' .. uid
      local call = hash(key)
      if call.state == 'waiting' or call.state == 'offered' then
        unqueue(uid, call)
        redis.call('HSET', key, 'state', 'left')
        explain(uid, now .. ' owner ' .. owner .. ' gone: out of line for good')
        released = released + 1
        if call.state == 'offered' and call.agent and call.agent ~= '' then
          freeing[#freeing + 1] = {call.agent, uid}
        end
      end
    end
    redis.call('DEL', set)
    if owner ~= previous then redis.call('SREM', P .. 'owners', owner) end
  end
end
-- agents last: every dead call is out of line first, so a freed agent is never handed another dead call
for _, pair in ipairs(freeing) do
  local a = hash(P .. 'agent:' .. pair[1])
  if (a.state == 'reserved' or a.state == 'ringing') and a.call == pair[2] then
    local uid = agent_free(pair[1], now, ttl_ms, true)
    if uid then out[#out + 1] = uid end
  end
end
out[1] = released
return out
