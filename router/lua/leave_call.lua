-- ARGV: uid  → the caller left (hung up, or the flow moved on): out of the queue, a reserved agent is freed
local uid = ARGV[1]
local key = P .. 'call:' .. uid
local call = hash(key)
if call.state == nil then return false end
local now = now_ms()
unqueue(uid, call)
redis.call('HSET', key, 'state', 'left')
explain(uid, now .. (call.state == 'offered' and ' done with routing' or ' caller left while ' .. (call.state or '')))
if call.state == 'offered' and call.agent and call.agent ~= '' then
  local a = hash(P .. 'agent:' .. call.agent)
  if (a.state == 'reserved' or a.state == 'ringing') and a.call == uid then
    return agent_free(call.agent, now, tonumber(ARGV[2]), true)
  end
end
return false
