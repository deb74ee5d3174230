-- Shared functions of every router script. route_store.build_scripts puts `local P = '<key prefix>'` before this
-- file and each script's body after it (included once at start, never pasted into the script files).
-- Index design (docs/router-indexes.md): free agents in `idle:<skill>:<level>:<lang>` (lang `*` = any) scored by
-- idle_since; waiting calls in `wq:<skill>:<level>:<lang>:<class>` ordered by priority (see line_class), the
-- non-empty lines of a skill in `wqlines:<skill>` with their head's score; `relax` and `relax:<skill>` hold each waiting call's next
-- relaxation time, so a step that came due is never missed.
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
-- effective requirement of a call after waiting `waited` seconds: levels, added skills, overflow, and the time
-- (seconds after enqueue) of the next step still to come, or nil
local function requirement(call, waited)
  local levels, order = parse_skills(call.skills)
  local added, overflow, relaxed, next_after = {}, false, {}, nil
  for after, kind, value in string.gmatch(call.steps or '', '([%d%.]+)|(%a)|([^;]*);') do
    local at = tonumber(after)
    if at <= waited then
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
    elseif next_after == nil or at < next_after then
      next_after = at
    end
  end
  return levels, order, added, overflow, relaxed, next_after
end
local function hash(key)
  local flat = redis.call('HGETALL', key)
  local out = {}
  for i = 1, #flat, 2 do out[flat[i]] = flat[i + 1] end
  return out
end
-- only the named fields of a hash (a decision reads what it needs, not whole records)
local function fields(key, names)
  local values = redis.call('HMGET', key, unpack(names))
  local out = {}
  for i, name in ipairs(names) do if values[i] then out[name] = values[i] end end
  return out
end
local function lang_list(langs)
  local out = {'*'}
  for l in string.gmatch(langs or '', '[^,]+') do out[#out + 1] = l end
  return out
end
local function idle_key(skill, level, lang)
  return P .. 'idle:' .. skill .. ':' .. level .. ':' .. lang
end
local function add_idle(id, agent)
  local levels, order = parse_skills(agent.skills)
  local since = tonumber(agent.idle_since) or 0
  local langs = lang_list(agent.langs)
  for _, s in ipairs(order) do
    for _, l in ipairs(langs) do redis.call('ZADD', idle_key(s, levels[s], l), since, id) end
  end
end
local function remove_idle(id, agent)
  local levels, order = parse_skills(agent.skills)
  local langs = lang_list(agent.langs)
  for _, s in ipairs(order) do
    for _, l in ipairs(langs) do redis.call('ZREM', idle_key(s, levels[s], l), id) end
  end
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
-- the fields of a free agent a call decision reads: state, penalty, languages, the call's skills, and what a
-- reservation needs (skills and langs to leave the indexes, endpoint for the reply)
local function agent_fields(id, order, added)
  local names = {'state', 'skip_until', 'langs', 'idle_since', 'skills', 'endpoint'}
  for _, s in ipairs(order) do names[#names + 1] = 's:' .. s end
  for _, s in ipairs(added) do names[#names + 1] = 's:' .. s end
  return fields(P .. 'agent:' .. id, names)
end
local CALL_FIELDS = {'state', 'enq', 'base', 'aging', 'lang', 'skills', 'steps', 'wq', 'queue', 'ix'}
local function call_fields(uid)
  return fields(P .. 'call:' .. uid, CALL_FIELDS)
end
-- the `passed over` part of an explanation: the first few free agents ranked before `winner` in the any-language
-- lines of the first skill that do not fit (at most 5 looked at per level: bounded, for people, not for the pick)
local function passed_over(first, need, winner, winner_level, levels, order, lang, now)
  local passed = {}
  local lowest = winner_level or need
  for level = 10, lowest, -1 do
    if #passed >= 5 then break end
    for _, id in ipairs(redis.call('ZRANGE', idle_key(first, level, '*'), 0, 4)) do
      if id == winner or #passed >= 5 then break end
      local a = agent_fields(id, order, {})
      local tier, short = fits(a, levels, order, {}, lang, now)
      if tier == nil then passed[#passed + 1] = id .. ' (' .. short .. ')' end
    end
  end
  return passed
end
-- of a call's required skills after the first, the one fewest free agents have at the level asked or more (in
-- the call's language lines; ZCARD only, at most 10 per skill). Returns it and its level
local function rarest_free(levels, order, lkey)
  if #order == 2 then return order[2], math.max(1, levels[order[2]]) end
  local best, best_need, best_count = nil, nil, nil
  for i = 2, #order do
    local s = order[i]
    local need = math.max(1, levels[s])
    local count = 0
    for level = 10, need, -1 do
      count = count + redis.call('ZCARD', idle_key(s, level, lkey))
      if best_count ~= nil and count >= best_count then break end
    end
    if best_count == nil or count < best_count then best, best_need, best_count = s, need, count end
  end
  return best, best_need
end
-- best available agent for a call: preferred agent, then base skills by level then longest idle, then added skills.
-- Reads the free-agent lines of the first skill from level 10 down to the required level, in the call's language
-- (O(10 log n) plus the agents passed over for a second required skill or a ring-no-answer penalty)
local function find_agent(call, now)
  local waited = (now - tonumber(call.enq)) / 1000
  local levels, order, added, overflow, relaxed = requirement(call, waited)
  local lang = call.lang or ''
  local lkey = lang ~= '' and lang or '*'
  local looked = 0
  local walked = nil  -- the agents passed over, when the walk below named them itself
  if call.pref and call.pref ~= '' then
    local a = agent_fields(call.pref, order, added)
    if a.state == 'available' then
      looked = looked + 1
      local tier = fits(a, levels, order, added, lang, now)
      if tier ~= nil then return call.pref, a, 'last agent for this customer', looked, overflow, relaxed end
    end
  end
  if #order > 0 then
    local first = order[1]
    local need = math.max(1, levels[first])
    if #order > 1 then
      -- more than one skill: per first-skill level, best first, only the agents that also have the rarest of the
      -- other skills at the level asked (ZINTER in Redis, not a read per agent), by idle time then id, as the walk
      -- below would meet them; every agent who fits has both, so the first that fits is the pick
      local via, via_need = rarest_free(levels, order, lkey)
      local with_via = P .. 'tmp:with_via'  -- the free agents having `via` at the level asked (dropped before return)
      local via_keys = {}
      for via_level = 10, via_need, -1 do via_keys[#via_keys + 1] = idle_key(via, via_level, lkey) end
      redis.call('ZUNIONSTORE', with_via, #via_keys, unpack(via_keys))
      for level = 10, need, -1 do
        -- in the set's order: idle time (the first set's score; WEIGHTS 1 0), then id
        local both = redis.call('ZINTER', 2, idle_key(first, level, lkey), with_via, 'WEIGHTS', 1, 0)
        for _, id in ipairs(both) do
          looked = looked + 1
          local a = agent_fields(id, order, {})
          if a.state == 'available' and fits(a, levels, order, {}, lang, now) ~= nil then
            redis.call('DEL', with_via)
            local why = first .. ' level ' .. level .. ', idle ' .. math.floor((now - tonumber(a.idle_since)) / 1000) .. 's (found by ' .. via .. ')'
            return id, a, why, looked, overflow, relaxed
          end
        end
      end
      redis.call('DEL', with_via)
    else
    -- the first skill's lines, best level then longest idle: the first agent that fits is the pick. Without a
    -- language asked the walk reads the `*` lines themselves, so it names the agents passed over as it goes (what
    -- passed_over would read again)
    walked = lkey == '*' and {} or nil
    for level = 10, need, -1 do
      local key = idle_key(first, level, lkey)
      local offset = 0
      while true do
        local ids = redis.call('ZRANGE', key, offset, offset + 15)
        if #ids == 0 then break end
        for _, id in ipairs(ids) do
          looked = looked + 1
          local a = agent_fields(id, order, {})
          local tier, short = fits(a, levels, order, {}, lang, now)
          if a.state == 'available' and tier ~= nil then
            local why = first .. ' level ' .. level .. ', idle ' .. math.floor((now - tonumber(a.idle_since)) / 1000) .. 's'
            local passed = walked or passed_over(first, need, id, level, levels, order, lang, now)
            if #passed > 0 then why = why .. '; passed over ' .. table.concat(passed, ', ') end
            return id, a, why, looked, overflow, relaxed
          end
          if walked and tier == nil and #walked < 5 then walked[#walked + 1] = id .. ' (' .. short .. ')' end
        end
        offset = offset + #ids
      end
    end
    end
  end
  local best_id, best_agent, best_key, best_why = nil, nil, nil, nil
  for _, s in ipairs(added) do
    for level = 10, 1, -1 do
      local key = idle_key(s, level, lkey)
      local offset, found = 0, false
      while not found do
        local ids = redis.call('ZRANGE', key, offset, offset + 15, 'WITHSCORES')
        if #ids == 0 then break end
        for i = 1, #ids, 2 do
          local id = ids[i]
          looked = looked + 1
          local a = agent_fields(id, order, {s})
          if a.state == 'available' and fits(a, levels, order, {s}, lang, now) ~= nil then
            local rank = (10 - level) * 1e13 + tonumber(ids[i + 1])
            if best_key == nil or rank < best_key or (rank == best_key and id < best_id) then
              best_id, best_agent, best_key = id, a, rank
              best_why = 'relaxed to ' .. s .. ' level ' .. level .. ', idle ' .. math.floor((now - tonumber(a.idle_since)) / 1000) .. 's'
            end
            found = true
            break
          end
        end
        offset = offset + #ids / 2
      end
      if found then break end
    end
  end
  if best_id == nil and #order > 0 then
    local passed = walked or passed_over(order[1], math.max(1, levels[order[1]]), nil, nil, levels, order, lang, now)
    if #passed > 0 then best_why = 'passed over ' .. table.concat(passed, ', ') end
  end
  return best_id, best_agent, best_why, looked, overflow, relaxed
end
-- a call's explanations: its last 50 lines, kept a day from the first (RPUSH says the length: the list is trimmed
-- only once it is longer, and its expiry set only when this line created it)
local function explain(uid, line)
  local key = P .. 'explain:' .. uid
  local length = redis.call('RPUSH', key, line)
  if length == 1 then
    redis.call('EXPIRE', key, 86400)
  elseif length > 50 then
    redis.call('LTRIM', key, -50, -1)
  end
end
-- a call created in this script run (`call.fresh`, offer_call) is in no line, no schedule and no gauge yet, and its
-- hash is written once, with its decision: its fields and `...` (field, value pairs) in one HSET, then its expiry.
-- Any other call: only `...` is written
local NEW_CALL_FIELDS = {'skills', 'steps', 'lang', 'base', 'aging', 'customer', 'pref', 'queue', 'segment', 'enq',
                         'state', 'ix'}
local function write_call(uid, call, ...)
  local key = P .. 'call:' .. uid
  if not call.fresh then
    redis.call('HSET', key, ...)
    return
  end
  local changes, args = {...}, {}
  for i = 1, #changes, 2 do call[changes[i]] = changes[i + 1] end
  local listed = {}
  for _, name in ipairs(NEW_CALL_FIELDS) do
    listed[name] = true
    args[#args + 1] = name; args[#args + 1] = call[name] or ''
  end
  for i = 1, #changes, 2 do
    if not listed[changes[i]] then args[#args + 1] = changes[i]; args[#args + 1] = changes[i + 1] end
  end
  redis.call('HSET', key, unpack(args))
  redis.call('EXPIRE', key, 86400)
  call.fresh = nil
end
-- the lines of waiting calls: `wq:<skill>:<level>:<lang>:<class>`; `wqlines:<skill>` holds the non-empty ones,
-- each scored with its first call's score (so a freed agent learns every head priority in one read)
local function line_skill(key)
  return string.match(key, 'wq:([^:]+):%d+:[^:]+:[^:]+$')
end
local function line_changed(key, skill)
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if #first == 0 then
    redis.call('ZREM', P .. 'wqlines:' .. skill, key)
  else
    redis.call('ZADD', P .. 'wqlines:' .. skill, first[2], key)
  end
end
local function drop_from_line(key, uid)
  if redis.call('ZREM', key, uid) == 1 then line_changed(key, line_skill(key) or '') end
end
-- out of the relaxation schedule: `relax` (every call, for the sweep) and `relax:<skill>` (per skill the call will
-- be in after its next step, for freed agents); `relaxing` holds uid → "enq base aging skill,skill"
local function drop_relax(uid)
  local info = redis.call('HGET', P .. 'relaxing', uid)
  if info then
    for s in string.gmatch(string.match(info, '%S+ %S+ %S+ (%S*)') or '', '[^,]+') do
      redis.call('ZREM', P .. 'relax:' .. s, uid)
    end
    redis.call('HDEL', P .. 'relaxing', uid)
  end
  redis.call('ZREM', P .. 'relax', uid)
end
-- out of the waiting lines (kept in the gauges' queue)
local function unindex(uid, call)
  for key in string.gmatch(call.wq or '', '%S+') do drop_from_line(key, uid) end
  -- `steps` never changes after the call is created, and only a call with steps is ever scheduled (reindex)
  if call.steps and call.steps ~= '' then drop_relax(uid) end
  call.wq = ''
end
local function unqueue(uid, call)
  unindex(uid, call)
  redis.call('HSET', P .. 'call:' .. uid, 'wq', '')
  redis.call('ZREM', P .. 'qwait:' .. (call.queue or ''), uid)
end
-- a call's class and score in its lines. With an aging rate a > 0 the class is `a` and the score a * enq_s - base
-- (lowest = highest priority base + a * (now - enq), the same order at every `now`); without aging the class is
-- `0/<base>` (one class per priority) and the score enq_ms (lowest = longest wait, the tie rule)
local function line_class(call)
  local aging = tonumber(call.aging) or 0
  if aging == 0 then return '0/' .. (call.base or '0'), tonumber(call.enq) end
  return call.aging, aging * tonumber(call.enq) / 1000 - (tonumber(call.base) or 0)
end
-- the required skill whose lines a waiting call is in: `ix` (the rarest of its skills, chosen by the router from
-- routing.yaml) when it is one of them, else the first
local function line_skill_of(call, levels, order)
  if call.ix and call.ix ~= '' and levels[call.ix] then return call.ix end
  return order[1]
end
-- a waiting call is in the line of its index skill (`line_skill_of`) at its current (relaxed) level and, once relaxation
-- adds skills, in the level-1 lines of the added skills; in its language's lines (`*` when none asked), per class.
-- Its next relaxation time is in `relax` until a step applies (then it is indexed again).
local function reindex(uid, call, now)
  if not call.fresh then unindex(uid, call) end
  local levels, order, added, overflow, _, next_after = requirement(call, (now - tonumber(call.enq)) / 1000)
  local class, score = line_class(call)
  local lang = (call.lang and call.lang ~= '') and call.lang or '*'
  local keys = {}
  if not overflow then
    local lines = {}
    local ix = line_skill_of(call, levels, order)
    if ix then lines[#lines + 1] = {ix, math.max(1, levels[ix])} end
    for _, s in ipairs(added) do lines[#lines + 1] = {s, 1} end
    for _, line in ipairs(lines) do
      local key = P .. 'wq:' .. line[1] .. ':' .. line[2] .. ':' .. lang .. ':' .. class
      redis.call('ZADD', key, score, uid)
      -- the line's head score is the lower of the old head's and this one: LT writes it (adds a new line)
      redis.call('ZADD', P .. 'wqlines:' .. line[1], 'LT', score, key)
      keys[#keys + 1] = key
    end
    if next_after then
      local at = tonumber(call.enq) + next_after * 1000
      local _, next_order, next_added, next_overflow = requirement(call, next_after)
      local skills, listed = {}, {}
      if not next_overflow then
        for _, s in ipairs({line_skill_of(call, levels, next_order), unpack(next_added)}) do
          if not listed[s] then listed[s] = true; skills[#skills + 1] = s end
        end
      end
      redis.call('ZADD', P .. 'relax', at, uid)
      for _, s in ipairs(skills) do redis.call('ZADD', P .. 'relax:' .. s, at, uid) end
      redis.call('HSET', P .. 'relaxing', uid, call.enq .. ' ' .. (call.base or '0') .. ' ' .. (call.aging or '0') .. ' ' .. table.concat(skills, ','))
    end
  end
  write_call(uid, call, 'wq', table.concat(keys, ' '))
  call.wq = table.concat(keys, ' ')
end
local function enqueue(uid, call, now)
  reindex(uid, call, now)
  redis.call('ZADD', P .. 'qwait:' .. (call.queue or ''), tonumber(call.enq), uid)
end
-- `not_idle`: the agent is in no free-agent set (agent_free reserves it before adding it to them); `idle_since`:
-- a new idle time to write with the reservation (agent_free of an agent that was not free)
local function reserve(uid, call, id, agent, now, ttl_ms, why, not_idle, idle_since)
  if not not_idle then remove_idle(id, agent) end
  -- set_state and the reservation in one write; unqueue and the offer in one write
  local akey = P .. 'agent:' .. id
  if idle_since then
    redis.call('HSET', akey, 'state', 'reserved', 'reason', '', 'since', now, 'call', uid,
               'reserved_until', now + ttl_ms, 'idle_since', idle_since)
  else
    redis.call('HSET', akey, 'state', 'reserved', 'reason', '', 'since', now, 'call', uid,
               'reserved_until', now + ttl_ms)
  end
  redis.call('HSET', P .. 'states', id, 'reserved')
  redis.call('ZADD', P .. 'reserved', now + ttl_ms, id)
  if not call.fresh then  -- a call new in this run is in no line and no gauge yet
    unindex(uid, call)
    redis.call('ZREM', P .. 'qwait:' .. (call.queue or ''), uid)
  end
  write_call(uid, call, 'wq', '', 'state', 'offered', 'agent', id, 'endpoint', agent.endpoint or '')
  redis.call('ZADD', P .. 'offerlog', now, uid .. ' ' .. id)
  redis.call('PUBLISH', P .. 'offers', uid .. ' ' .. id)
  explain(uid, now .. ' assigned ' .. id .. ': ' .. (why or ''))
end
-- the highest-priority waiting call this agent can serve now. The lines it may take calls from are those of its
-- skills at levels up to its own, in its languages and `*` (from `wqlines:<skill>`, one read per skill). A line's
-- first call has the line's highest priority, known from its score alone, so the lines are read best head first and the search stops
-- when no head can beat the best call found: calls are read only while they could win. The calls whose
-- relaxation step came due but which are not indexed again yet (`relax` up to now) are looked at too, so the pick
-- is as if there were no indexes.
local function find_call(id, agent, now)
  local best_uid, best_call, best_priority, looked = nil, nil, nil, 0
  local seen = {}
  local now_s = now / 1000
  local function consider(uid, call)
    looked = looked + 1
    local waited = (now - tonumber(call.enq)) / 1000
    local levels, order, added, overflow = requirement(call, waited)
    if overflow or fits(agent, levels, order, added, call.lang or '', now) == nil then return false end
    local priority = (tonumber(call.base) or 0) + (tonumber(call.aging) or 0) * waited
    if best_priority == nil or priority > best_priority
       or (priority == best_priority and tonumber(call.enq) < tonumber(best_call.enq)) then
      best_uid, best_call, best_priority = uid, call, priority
    end
    return true
  end
  local levels, skills = parse_skills(agent.skills)
  local speaks = {['*'] = true}
  for l in string.gmatch(agent.langs or '', '[^,]+') do speaks[l] = true end
  local lines = {}
  for _, skill in ipairs(skills) do
    local listed = redis.call('ZRANGE', P .. 'wqlines:' .. skill, 0, -1, 'WITHSCORES')
    for i = 1, #listed, 2 do
      local key = listed[i]
      local level, lang, class = string.match(key, ':(%d+):([^:]+):([^:]+)$')
      if level and tonumber(level) <= levels[skill] and speaks[lang] then
        local aging, base = string.match(class, '^([^/]+)/(.+)$')
        local line = {key = key, offset = 0, aging = tonumber(aging or class) or 0, base = tonumber(base)}
        line.priority = line.base or (line.aging * now_s - tonumber(listed[i + 1]))
        line.uid = false  -- the head's uid is read only if the line comes up
        lines[#lines + 1] = line
      end
    end
  end
  local function head(line)
    local page = redis.call('ZRANGE', line.key, line.offset, line.offset, 'WITHSCORES')
    if #page == 0 then line.uid = nil; return end
    line.uid = page[1]
    line.priority = line.base or (line.aging * now_s - tonumber(page[2]))
  end
  while true do
    local top = nil
    for _, line in ipairs(lines) do
      if line.uid ~= nil and (top == nil or line.priority > top.priority) then top = line end
    end
    if top == nil or (best_priority ~= nil and top.priority < best_priority - 1e-6) then break end
    if top.uid == false then
      head(top)  -- the head itself, then choose again
    else
      local uid = top.uid
      if seen[uid] == nil then
        local call = call_fields(uid)
        if call.state ~= 'waiting' then
          seen[uid] = false
          drop_from_line(top.key, uid)  -- left, offered or expired: drop the stale entry
          top.offset = top.offset - 1
        else
          seen[uid] = consider(uid, call)
        end
      end
      top.offset = top.offset + 1
      if seen[uid] and top.base then top.uid = nil else head(top) end  -- without aging, the rest waited less
    end
  end
  -- steps that came due for calls that will be in lines of its skills: their priorities come from one read of
  -- `relaxing` (uid → "enq base aging skills"); the calls are read best first, only while they could win. At most
  -- 1,000 per skill: the tickets' retries and the sweep (RELAX_BATCH per run, run again at once while more are due) keep
  -- the calls whose step came due but are not indexed again far fewer than that
  local due, listed = {}, {}
  for _, skill in ipairs(skills) do
    for _, uid in ipairs(redis.call('ZRANGEBYSCORE', P .. 'relax:' .. skill, '-inf', now, 'LIMIT', 0, 1000)) do
      if not listed[uid] then listed[uid] = true; due[#due + 1] = uid end
    end
  end
  local ranked = {}
  for start = 1, #due, 500 do
    local chunk = {}
    for i = start, math.min(#due, start + 499) do chunk[#chunk + 1] = due[i] end
    local infos = redis.call('HMGET', P .. 'relaxing', unpack(chunk))
    for i, uid in ipairs(chunk) do
      local enq, base, aging = string.match(infos[i] or '', '^(%S+) (%S+) (%S+)')
      if enq and seen[uid] == nil then
        local priority = tonumber(base) + tonumber(aging) * (now - tonumber(enq)) / 1000
        ranked[#ranked + 1] = {uid, priority, tonumber(enq)}
      end
    end
  end
  table.sort(ranked, function(a, b) return a[2] > b[2] or (a[2] == b[2] and a[3] < b[3]) end)
  for _, entry in ipairs(ranked) do
    -- in (priority, -wait) order: once an entry cannot beat the best call, no later one can
    if best_priority ~= nil and (entry[2] < best_priority - 1e-6
       or (entry[2] <= best_priority + 1e-6 and entry[3] >= tonumber(best_call.enq))) then break end
    local call = call_fields(entry[1])
    if call.state == 'waiting' then seen[entry[1]] = consider(entry[1], call) end
  end
  return best_uid, best_call, best_priority, looked
end
-- make an agent available and hand it the best waiting call, if any; returns the uid assigned or false. The agent
-- is not available before (every caller frees an agent in another state, or took it out of the free-agent sets),
-- so it is in no free-agent set until add_idle. `known`: its hash, when the caller has just read it
-- A deadline field goes with its list (reserve and hold write `reserved_until` with `reserved`, call_ended_for
-- `wrap_until` with `wrapping`), so an agent without the field is not in the list: no ZREM for it. The waiting call
-- is looked for before anything is written: a freed agent that gets one is written once, as reserved (with its
-- new idle time), never first as available.
local function agent_free(id, now, ttl_ms, keep_idle_since, known)
  local key = P .. 'agent:' .. id
  local agent = known or hash(key)
  if agent.state == nil then return false end
  if agent.reserved_until then redis.call('ZREM', P .. 'reserved', id) end
  if agent.wrap_until then redis.call('ZREM', P .. 'wrapping', id) end
  local idle_since = nil
  if not keep_idle_since then
    idle_since = now
    agent.idle_since = tostring(now)
  end
  agent.state = 'available'
  local uid, call, priority, looked = nil, nil, nil, 0
  if (tonumber(agent.skip_until) or 0) <= now then uid, call, priority, looked = find_call(id, agent, now) end
  if uid then
    if agent.wrap_until then redis.call('HDEL', key, 'wrap_until') end  -- `call`, `reserved_until`: rewritten
    reserve(uid, call, id, agent, now, ttl_ms, 'agent freed; highest priority ' .. string.format('%.1f', priority) .. ' of ' .. looked .. ' waiting looked at', true, idle_since)
    return uid
  end
  if agent.call or agent.reserved_until or agent.wrap_until then
    redis.call('HDEL', key, 'call', 'reserved_until', 'wrap_until')
  end
  if idle_since then  -- set_state and the new idle time in one write
    redis.call('HSET', key, 'state', 'available', 'reason', '', 'since', now, 'idle_since', idle_since)
    redis.call('HSET', P .. 'states', id, 'available')
  else
    set_state(id, 'available', '', now)
  end
  add_idle(id, agent)
  return false
end
-- index again the waiting calls whose relaxation step came due (at most `limit`); returns how many
local function catch_up_relaxation(now, limit)
  local due = redis.call('ZRANGEBYSCORE', P .. 'relax', '-inf', now, 'LIMIT', 0, limit)
  for _, uid in ipairs(due) do
    local call = call_fields(uid)
    if call.state == 'waiting' then
      reindex(uid, call, now)
    else
      drop_relax(uid)
    end
  end
  return #due
end
-- an agent's call ended (device not in use, or the dialling side saw the bridge end): wrap-up, or free at once
-- (then it may get a waiting call). Returns the new state and the uid of a call given to it ('' when none)
local function call_ended_for(id, agent, now, ttl_ms, wrap_ms)
  local key = P .. 'agent:' .. id
  if wrap_ms <= 0 then
    local uid = agent_free(id, now, ttl_ms, false, agent)
    return 'available', uid or ''
  end
  if agent.reserved_until then
    redis.call('ZREM', P .. 'reserved', id)
    redis.call('HDEL', key, 'reserved_until')
  end
  set_state(id, 'wrap_up', '', now)
  redis.call('HSET', key, 'wrap_until', now + wrap_ms)
  redis.call('ZADD', P .. 'wrapping', now + wrap_ms, id)
  return 'wrap_up', ''
end
-- the dialling side saw call `uid`'s bridge with agent `id` end: as a device going idle from on_call, but only
-- when the agent is still on that call. Returns {state, uid given or ''}
local function dial_ended(id, uid, now, ttl_ms, wrap_ms)
  local agent = hash(P .. 'agent:' .. id)
  local state = agent.state
  if state == nil or state == 'logged_out' then return state or 'unknown', '' end
  if agent.call ~= uid or not (state == 'on_call' or state == 'reserved' or state == 'ringing') then
    return state, ''
  end
  return call_ended_for(id, agent, now, ttl_ms, wrap_ms)
end
-- the caller left routing (hung up, overflowed or connected): out of the lines, a reserved agent is freed.
-- Returns the uid of another call that freed agent was given, or false
local function call_left(uid, now, ttl_ms)
  local key = P .. 'call:' .. uid
  local call = hash(key)
  if call.state == nil then return false end
  unqueue(uid, call)
  redis.call('HSET', key, 'state', 'left')
  explain(uid, now .. (call.state == 'offered' and ' done with routing' or ' caller left while ' .. (call.state or '')))
  if call.state == 'offered' and call.agent and call.agent ~= '' then
    local a = hash(P .. 'agent:' .. call.agent)
    if (a.state == 'reserved' or a.state == 'ringing') and a.call == uid then
      return agent_free(call.agent, now, ttl_ms, true)
    end
  end
  return false
end
-- an Asterisk device state of agent `id` (event ringing | on_call | idle | hold | ended; `uid`: the dialling
-- side's call, for hold and ended). `now`: the script's clock, read here when nil (a logged-out agent needs none).
-- Returns the new state and a call uid given to the agent if it became free ('' when none)
local function device_event(id, event, now, ttl_ms, wrap_ms, uid)
  local key = P .. 'agent:' .. id
  local agent = hash(key)
  local state = agent.state
  if state == nil or state == 'logged_out' then return state or 'unknown', '' end
  now = now or now_ms()
  if event == 'ringing' then
    if state == 'reserved' then set_state(id, 'ringing', '', now); return 'ringing', '' end
  elseif event == 'on_call' then
    if state == 'available' or state == 'reserved' or state == 'ringing' or state == 'wrap_up' then
      -- only an available agent is in the free-agent sets; a deadline field goes with its list (agent_free)
      if state == 'available' then remove_idle(id, agent) end
      if agent.reserved_until then redis.call('ZREM', P .. 'reserved', id) end
      if agent.wrap_until then redis.call('ZREM', P .. 'wrapping', id) end
      if agent.reserved_until or agent.wrap_until then redis.call('HDEL', key, 'reserved_until', 'wrap_until') end
      set_state(id, 'on_call', '', now)
      return 'on_call', ''
    end
  elseif event == 'hold' then
    -- the dialling side is still ringing or talking to this agent for this call: keep the reservation alive
    if (state == 'reserved' or state == 'ringing') and agent.call == uid then
      redis.call('ZADD', P .. 'reserved', now + ttl_ms, id)
      redis.call('HSET', key, 'reserved_until', now + ttl_ms)
    end
    return state, ''
  elseif event == 'ended' then
    -- the dialling side saw its bridged call end (also covers an AMI link that missed the device events)
    if agent.call ~= uid or not (state == 'on_call' or state == 'reserved' or state == 'ringing') then
      return state, ''
    end
    state = 'on_call'
    event = 'idle'
  end
  if event == 'idle' and state == 'on_call' then
    return call_ended_for(id, agent, now, ttl_ms, wrap_ms)
  end
  return state, ''
end
