"""The Lua that makes every routing decision and agent-state change atomic inside Redis.

Keys all carry the hash tag `{sb}` (`sb:{sb}:...`): one cluster slot, so each script touches only keys of its own
slot and works unchanged on Redis Cluster. Time comes from Redis `TIME`, so several Switchboard instances share
one clock. The rules mirror router/decision.py (the readable specification; tests compare the two).

Layout:
  sb:{sb}:agent:<id>         hash: name endpoint langs(,en,fr,) skills(billing:8,...) s:<skill>=level state reason
                             since idle_since skip_until wrap_until reserved_until call
  sb:{sb}:agents             set of agent ids;  sb:{sb}:states  hash id → state (for counts)
  sb:{sb}:endpoints          hash endpoint → id (AMI events name devices, not agents)
  sb:{sb}:idle:<skill>       zset of available agents: (10 - level) * 1e13 + idle_since_ms
  sb:{sb}:call:<uid>         hash: skills steps lang base aging enq customer pref queue segment state agent
  sb:{sb}:wq:<skill>:<aging> zset of waiting calls needing <skill> (first required, or added by relaxation) with
                             one aging rate, scored aging * enq_s - base: lowest first = highest priority, because
                             base + aging * (now - enq) orders like base - aging * enq for a shared aging rate
  sb:{sb}:classes            set of aging rates in use;  sb:{sb}:qwait:<queue>  zset uid → enq (live gauges)
  sb:{sb}:reserved, sb:{sb}:wrapping, sb:{sb}:skipping   zsets agent → deadline ms (the sweep's work list)
  sb:{sb}:last:<customer>    the agent who last handled this customer (expires after last_agent_days)
  sb:{sb}:explain:<uid>      list of decision explanations (1 day)
  channel sb:{sb}:offers     "uid agent" for every reservation made
"""
from __future__ import annotations

PREFIX = "sb:{sb}:"
OFFERS_CHANNEL = PREFIX + "offers"

COMMON = r"""
local P = 'sb:{sb}:'
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function parse_skills(text)
  local out, order = {}, {}
  for name, level in string.gmatch(text or '', '([%w_%-]+):(%d+)') do
    out[name] = tonumber(level); order[#order + 1] = name
  end
  return out, order
end
-- effective requirement of a call after waiting `waited` seconds: levels, added skills, overflow
local function requirement(call, waited)
  local levels, order = parse_skills(call.skills)
  local added, overflow, relaxed = {}, false, {}
  for after, kind, value in string.gmatch(call.steps or '', '([%d%.]+)|(%a)|([^;]*);') do
    if tonumber(after) <= waited then
      if kind == 'L' then
        local cap = tonumber(value)
        for _, s in ipairs(order) do if levels[s] > cap then levels[s] = cap end end
        relaxed[#relaxed + 1] = 'level>=' .. value
      elseif kind == 'S' then
        for s in string.gmatch(value, '[^,]+') do added[#added + 1] = s end
        relaxed[#relaxed + 1] = '+' .. value
      elseif kind == 'O' then
        overflow = true
      end
    end
  end
  return levels, order, added, overflow, relaxed
end
local function hash(key)
  local flat = redis.call('HGETALL', key)
  local out = {}
  for i = 1, #flat, 2 do out[flat[i]] = flat[i + 1] end
  return out
end
local function idle_score(level, idle_since)
  return (10 - level) * 1e13 + idle_since
end
local function add_idle(id, agent)
  local _, order = parse_skills(agent.skills)
  local levels = parse_skills(agent.skills)
  local since = tonumber(agent.idle_since) or 0
  for _, s in ipairs(order) do redis.call('ZADD', P .. 'idle:' .. s, idle_score(levels[s], since), id) end
end
local function remove_idle(id, agent)
  local _, order = parse_skills(agent.skills)
  for _, s in ipairs(order) do redis.call('ZREM', P .. 'idle:' .. s, id) end
end
local function set_state(id, state, reason, now)
  redis.call('HSET', P .. 'agent:' .. id, 'state', state, 'reason', reason or '', 'since', now)
  redis.call('HSET', P .. 'states', id, state)
end
-- can this (available) agent take this call now? returns tier (0 base skills, 1 added skill) and fit level
local function fits(agent, levels, order, added, lang, now)
  if (tonumber(agent.skip_until) or 0) > now then return nil, 'ring-no-answer penalty' end
  if lang ~= '' and not string.find(agent.langs or '', ',' .. lang .. ',', 1, true) then return nil, 'no ' .. lang end
  local ok, short = true, ''
  for _, s in ipairs(order) do
    local have = tonumber(agent['s:' .. s]) or 0
    if have < levels[s] then ok = false; short = s .. ' ' .. have .. '<' .. levels[s]; break end
  end
  if ok then return 0, tonumber(agent['s:' .. order[1]]) or 0 end
  local best = nil
  for _, s in ipairs(added) do
    local have = tonumber(agent['s:' .. s]) or 0
    if have >= 1 and (best == nil or have > best) then best = have end
  end
  if best ~= nil then return 1, best end
  return nil, short
end
-- best available agent for a call: preferred agent, then base skills by level then longest idle, then added skills
local function find_agent(call, now)
  local waited = (now - tonumber(call.enq)) / 1000
  local levels, order, added, overflow, relaxed = requirement(call, waited)
  local lang = call.lang or ''
  local looked = 0
  local passed = {}  -- the first few free agents skipped, with the reason (for `route explain`)
  if call.pref and call.pref ~= '' then
    local a = hash(P .. 'agent:' .. call.pref)
    if a.state == 'available' then
      looked = looked + 1
      local tier = fits(a, levels, order, added, lang, now)
      if tier ~= nil then return call.pref, a, 'last agent for this customer', looked, overflow, relaxed end
    end
  end
  if #order > 0 then
    local first = order[1]
    local limit = (10 - levels[first] + 1) * 1e13
    local offset = 0
    while true do
      local ids = redis.call('ZRANGEBYSCORE', P .. 'idle:' .. first, '-inf', '(' .. limit, 'LIMIT', offset, 64)
      if #ids == 0 then break end
      for _, id in ipairs(ids) do
        looked = looked + 1
        local a = hash(P .. 'agent:' .. id)
        if a.state == 'available' then
          local tier, fit = fits(a, levels, order, {}, lang, now)
          if tier ~= nil then
            local why = first .. ' level ' .. fit .. ', idle ' .. math.floor((now - tonumber(a.idle_since)) / 1000) .. 's'
            if #passed > 0 then why = why .. '; passed over ' .. table.concat(passed, ', ') end
            return id, a, why, looked, overflow, relaxed
          elseif #passed < 5 then
            passed[#passed + 1] = id .. ' (' .. fit .. ')'
          end
        end
      end
      offset = offset + #ids
    end
  end
  local best_id, best_agent, best_key, best_why = nil, nil, nil, nil
  for _, s in ipairs(added) do
    local offset = 0
    local found = false
    while not found do
      local ids = redis.call('ZRANGE', P .. 'idle:' .. s, offset, offset + 63, 'WITHSCORES')
      if #ids == 0 then break end
      for i = 1, #ids, 2 do
        local id = ids[i]
        looked = looked + 1
        local a = hash(P .. 'agent:' .. id)
        if a.state == 'available' and fits(a, levels, order, {s}, lang, now) ~= nil then
          local key = tonumber(ids[i + 1])
          if best_key == nil or key < best_key then
            best_id, best_agent, best_key = id, a, key
            best_why = 'relaxed to ' .. s .. ' level ' .. (a['s:' .. s] or '?') .. ', idle ' .. math.floor((now - tonumber(a.idle_since)) / 1000) .. 's'
          end
          found = true
          break
        end
      end
      offset = offset + 64
    end
  end
  if best_id == nil and #passed > 0 then best_why = 'passed over ' .. table.concat(passed, ', ') end
  return best_id, best_agent, best_why, looked, overflow, relaxed
end
local function explain(uid, line)
  local key = P .. 'explain:' .. uid
  redis.call('RPUSH', key, line)
  redis.call('LTRIM', key, -50, -1)
  redis.call('EXPIRE', key, 86400)
end
local function unqueue(uid, call)
  for key in string.gmatch(call.wq or '', '%S+') do redis.call('ZREM', key, uid) end
  redis.call('HSET', P .. 'call:' .. uid, 'wq', '')
  call.wq = ''
  redis.call('ZREM', P .. 'qwait:' .. (call.queue or ''), uid)
end
-- a waiting call is indexed under its first required skill and, once relaxation adds them, under the added
-- skills, per aging rate: a freed agent only looks at the lines for skills it has
local function enqueue(uid, call, now)
  unqueue(uid, call)
  local _, order, added = requirement(call, (now - tonumber(call.enq)) / 1000)
  local class = call.aging or '0'
  local score = (tonumber(call.aging) or 0) * tonumber(call.enq) / 1000 - (tonumber(call.base) or 0)
  local keys = {}
  if order[1] then keys[#keys + 1] = P .. 'wq:' .. order[1] .. ':' .. class end
  for _, s in ipairs(added) do keys[#keys + 1] = P .. 'wq:' .. s .. ':' .. class end
  for _, key in ipairs(keys) do redis.call('ZADD', key, score, uid) end
  redis.call('SADD', P .. 'classes', class)
  redis.call('HSET', P .. 'call:' .. uid, 'wq', table.concat(keys, ' '))
  call.wq = table.concat(keys, ' ')
  redis.call('ZADD', P .. 'qwait:' .. (call.queue or ''), tonumber(call.enq), uid)
end
local function reserve(uid, call, id, agent, now, ttl_ms, why)
  remove_idle(id, agent)
  set_state(id, 'reserved', '', now)
  redis.call('HSET', P .. 'agent:' .. id, 'call', uid, 'reserved_until', now + ttl_ms)
  redis.call('ZADD', P .. 'reserved', now + ttl_ms, id)
  unqueue(uid, call)
  redis.call('HSET', P .. 'call:' .. uid, 'state', 'offered', 'agent', id)
  redis.call('PUBLISH', P .. 'offers', uid .. ' ' .. id)
  explain(uid, now .. ' assigned ' .. id .. ': ' .. (why or ''))
end
-- the highest-priority waiting call this agent can serve now (looking only at the lines of its skills)
local function find_call(id, agent, now)
  local best_uid, best_call, best_priority, looked = nil, nil, nil, 0
  local _, skills = parse_skills(agent.skills)
  for _, class in ipairs(redis.call('SMEMBERS', P .. 'classes')) do
    for _, skill in ipairs(skills) do
      local key = P .. 'wq:' .. skill .. ':' .. class
      local offset = 0
      local done = false
      while not done do
        local uids = redis.call('ZRANGE', key, offset, offset + 31)
        if #uids == 0 then break end
        for _, uid in ipairs(uids) do
          looked = looked + 1
          local call = hash(P .. 'call:' .. uid)
          if call.state == 'waiting' then
            local waited = (now - tonumber(call.enq)) / 1000
            local levels, order, added, overflow = requirement(call, waited)
            if not overflow and fits(agent, levels, order, added, call.lang or '', now) ~= nil then
              local priority = (tonumber(call.base) or 0) + (tonumber(call.aging) or 0) * waited
              if best_priority == nil or priority > best_priority
                 or (priority == best_priority and tonumber(call.enq) < tonumber(best_call.enq)) then
                best_uid, best_call, best_priority = uid, call, priority
              end
              done = true
              break
            end
          else
            redis.call('ZREM', key, uid)  -- left, offered or overflowed: drop the stale entry
          end
        end
        offset = offset + 32
      end
    end
  end
  return best_uid, best_call, best_priority, looked
end
-- make an agent available and hand it the best waiting call, if any; returns the uid assigned or false
local function agent_free(id, now, ttl_ms, keep_idle_since)
  local key = P .. 'agent:' .. id
  local agent = hash(key)
  if agent.state == nil then return false end
  if not keep_idle_since then redis.call('HSET', key, 'idle_since', now); agent.idle_since = tostring(now) end
  redis.call('HDEL', key, 'call', 'reserved_until', 'wrap_until')
  redis.call('ZREM', P .. 'reserved', id)
  redis.call('ZREM', P .. 'wrapping', id)
  set_state(id, 'available', '', now)
  agent.state = 'available'
  if (tonumber(agent.skip_until) or 0) > now then
    add_idle(id, agent)
    return false
  end
  local uid, call, priority, looked = find_call(id, agent, now)
  if uid then
    reserve(uid, call, id, agent, now, ttl_ms, 'agent freed; highest priority ' .. string.format('%.1f', priority) .. ' of ' .. looked .. ' waiting looked at')
    return uid
  end
  add_idle(id, agent)
  return false
end
"""

# ARGV: uid skills steps lang base aging customer pref queue segment ttl_ms
OFFER_CALL = COMMON + r"""
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
"""

# ARGV: uid  → the caller left (hung up, or the flow moved on): out of the queue, a reserved agent is freed
LEAVE_CALL = COMMON + r"""
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
"""

# ARGV: uid agent action(skip|pause) penalty_ms ttl_ms → the call goes back to its place; the agent is penalised
RING_NO_ANSWER = COMMON + r"""
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
"""

# ARGV: agent event ttl_ms wrap_up_ms [uid] → ringing | on_call | idle (device not in use) | hold | ended;
# returns the new state and a call uid given to the agent if it became free
AGENT_DEVICE = COMMON + r"""
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
    remove_idle(id, agent)
    redis.call('ZREM', P .. 'reserved', id)
    redis.call('ZREM', P .. 'wrapping', id)
    redis.call('HDEL', key, 'reserved_until', 'wrap_until')
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
if event == 'idle' then
  if state == 'on_call' then
    if wrap_ms <= 0 then
      local uid = agent_free(id, now, ttl_ms, false)
      return {'available', uid or ''}
    end
    redis.call('ZREM', P .. 'reserved', id)
    redis.call('HDEL', key, 'reserved_until')
    set_state(id, 'wrap_up', '', now)
    redis.call('HSET', key, 'wrap_until', now + wrap_ms)
    redis.call('ZADD', P .. 'wrapping', now + wrap_ms, id)
    return {'wrap_up', ''}
  end
end
return {state, ''}
"""

# ARGV: agent action reason ttl_ms; action: login | logout | pause | resume. Returns {state, uid assigned or ''}
AGENT_ACTION = COMMON + r"""
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
"""

# ARGV: now-independent sweep; ttl_ms → returns flat list of uids assigned while freeing expired agents
SWEEP = COMMON + r"""
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
return assigned
"""

# ARGV: id name endpoint langs skills(billing:8,...) → creates or updates an agent's profile (state kept)
UPSERT_AGENT = COMMON + r"""
local id = ARGV[1]
local key = P .. 'agent:' .. id
local old = hash(key)
if old.state == 'available' then remove_idle(id, old) end
if old.skills then
  local _, order = parse_skills(old.skills)
  for _, s in ipairs(order) do redis.call('HDEL', key, 's:' .. s) end
end
if old.endpoint and old.endpoint ~= ARGV[3] then redis.call('HDEL', P .. 'endpoints', old.endpoint) end
redis.call('HSET', key, 'name', ARGV[2], 'endpoint', ARGV[3], 'langs', ARGV[4], 'skills', ARGV[5])
local levels, order = parse_skills(ARGV[5])
for _, s in ipairs(order) do redis.call('HSET', key, 's:' .. s, levels[s]) end
redis.call('SADD', P .. 'agents', id)
redis.call('HSET', P .. 'endpoints', ARGV[3], id)
if old.state == nil then
  local now = now_ms()
  set_state(id, 'logged_out', '', now)
  redis.call('HSET', key, 'idle_since', now)
elseif old.state == 'available' then
  add_idle(id, hash(key))
end
return old.state or 'logged_out'
"""
