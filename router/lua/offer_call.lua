-- ARGV: uid skills steps lang base aging customer pref queue segment ttl_ms
local uid = ARGV[1]
local key = P .. 'call:' .. uid
local now = now_ms()
local ttl_ms = tonumber(ARGV[11])
if redis.call('EXISTS', key) == 0 then
  redis.call('HSET', key, 'skills', ARGV[2], 'steps', ARGV[3], 'lang', ARGV[4], 'base', ARGV[5], 'aging', ARGV[6],
             'customer', ARGV[7], 'pref', ARGV[8], 'queue', ARGV[9], 'segment', ARGV[10], 'enq', now,
             'state', 'waiting')
  redis.call('EXPIRE', key, 86400)
end
local call = hash(key)
if call.state == 'offered' then return {'offered', call.agent} end
if call.state ~= 'waiting' then return {call.state or 'gone', ''} end
local id, agent, why, looked, overflow, relaxed = find_agent(call, now)
if id then
  reserve(uid, call, id, agent, now, ttl_ms, why .. ' (' .. looked .. ' looked at' .. (#relaxed > 0 and ', relaxed ' .. table.concat(relaxed, ' ') or '') .. ')')
  return {'assigned', id, agent.endpoint}
end
if overflow then
  unqueue(uid, call)
  redis.call('HSET', key, 'state', 'overflow')
  explain(uid, now .. ' overflow after ' .. math.floor((now - tonumber(call.enq)) / 1000) .. 's')
  return {'overflow', ''}
end
enqueue(uid, call, now)
explain(uid, now .. ' queued: no free agent fits (' .. looked .. ' looked at' .. (#relaxed > 0 and ', relaxed ' .. table.concat(relaxed, ' ') or '') .. ')' .. (why and ('; ' .. why) or ''))
return {'queued', ''}
