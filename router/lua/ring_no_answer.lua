-- ARGV: uid agent action(skip|pause) penalty_ms ttl_ms → the call goes back to its place; the agent is penalised
local uid, id, action = ARGV[1], ARGV[2], ARGV[3]
local now = now_ms()
local penalty, ttl_ms = tonumber(ARGV[4]), tonumber(ARGV[5])
local akey = P .. 'agent:' .. id
local agent = hash(akey)
if agent.call == uid and (agent.state == 'reserved' or agent.state == 'ringing') then
  redis.call('ZREM', P .. 'reserved', id)
  redis.call('HDEL', akey, 'call', 'reserved_until')
  if action == 'pause' then
    set_state(id, 'paused', 'ring-no-answer', now)
  else
    redis.call('HSET', akey, 'skip_until', now + penalty)
    redis.call('ZADD', P .. 'skipping', now + penalty, id)
    agent_free(id, now, ttl_ms, true)
  end
end
local key = P .. 'call:' .. uid
local call = hash(key)
if call.state == 'offered' and call.agent == id then
  redis.call('HSET', key, 'state', 'waiting', 'agent', '')
  call.state = 'waiting'
  explain(uid, now .. ' ' .. id .. ' did not answer: back in line, agent ' .. (action == 'pause' and 'paused' or 'skipped'))
  enqueue(uid, call, now)
end
return true
