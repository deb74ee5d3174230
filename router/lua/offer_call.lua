-- ARGV: uid skills steps lang base aging customer pref queue segment ttl_ms instance index_skill
-- A new call is owned by `instance` (the reaper frees it if that instance dies) and, without a `pref` given, prefers
-- the customer's last agent (`last:<customer>`), all in this one step. `index_skill` (one of its skills, '' = the
-- first) names the line it waits in (the rarest of its skills: fewest agents to pass over).
local uid = ARGV[1]
local key = P .. 'call:' .. uid
local now = now_ms()
local ttl_ms = tonumber(ARGV[11])
local call = hash(key)
if next(call) == nil then
  -- a new call: its hash is written once, with the decision below (write_call: `fresh`)
  local instance, customer, pref = ARGV[12] or '', ARGV[7], ARGV[8]
  if instance ~= '' then
    redis.call('SADD', P .. 'owned:' .. instance, uid)
    redis.call('SADD', P .. 'owners', instance)
  end
  if pref == '' and customer ~= '' then pref = redis.call('GET', P .. 'last:' .. customer) or '' end
  call = {skills = ARGV[2], steps = ARGV[3], lang = ARGV[4], base = ARGV[5], aging = ARGV[6], customer = customer,
          pref = pref, queue = ARGV[9], segment = ARGV[10], enq = tostring(now), state = 'waiting',
          ix = ARGV[13] or '', fresh = true}
end
if call.state == 'offered' then return {'offered', call.agent} end
if call.state ~= 'waiting' then return {call.state or 'gone', ''} end
local id, agent, why, looked, overflow, relaxed = find_agent(call, now)
if id then
  reserve(uid, call, id, agent, now, ttl_ms, why .. ' (' .. looked .. ' looked at' .. (#relaxed > 0 and ', relaxed ' .. table.concat(relaxed, ' ') or '') .. ')')
  return {'assigned', id, agent.endpoint}
end
if overflow then
  if call.fresh then
    write_call(uid, call, 'wq', '', 'state', 'overflow')
  else
    unqueue(uid, call)
    redis.call('HSET', key, 'state', 'overflow')
  end
  explain(uid, now .. ' overflow after ' .. math.floor((now - tonumber(call.enq)) / 1000) .. 's')
  return {'overflow', ''}
end
enqueue(uid, call, now)
explain(uid, now .. ' queued: no free agent fits (' .. looked .. ' looked at' .. (#relaxed > 0 and ', relaxed ' .. table.concat(relaxed, ' ') or '') .. ')' .. (why and ('; ' .. why) or ''))
return {'queued', ''}
