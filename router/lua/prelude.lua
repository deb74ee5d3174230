-- Shared functions of every router script. route_store.build_scripts puts `local P = '<key prefix>'` before this
-- file and each script's body after it (included once at start, never pasted into the script files).
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
