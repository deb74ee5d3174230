-- A waiting call's place for its wait estimate: 1 + the waiting calls the agents able to serve it would take first.
-- ARGV: uid. Returns {position, lines counted}; position 0 when the call is not waiting in a line.
-- Counted: the calls in the lines of the call's index skill (the skill of the first line in its `wq`:
-- `wqlines:<skill>`, every level, in the call's language and `*`; every language when it asks none) whose
-- priority now is higher than its own, ties (within EPS) to the earlier enqueue, then to the lower uid (the order
-- Redis gives equal scores). One ZCOUNT per line whose head could be ahead: bounded by the lines of one skill, never
-- by the calls; calls tied within EPS are read (at most TIES per line) to apply the tie rule.
local EPS = 2e-4  -- scores carry 14 significant digits (a * enq_s ~ 1e9): priorities this close count as equal
local TIES = 100
local function num(x) return string.format('%.17g', x) end
local uid = ARGV[1]
local call = fields(P .. 'call:' .. uid, {'state', 'wq', 'enq', 'base', 'aging', 'lang'})
local own = string.match(call.wq or '', '%S+')
if call.state ~= 'waiting' or own == nil then return {0, 0} end
local skill = line_skill(own)
local now = now_ms()
local enq = tonumber(call.enq)
local p = (tonumber(call.base) or 0) + (tonumber(call.aging) or 0) * (now - enq) / 1000
local lang = call.lang or ''
local ahead, counted = 0, 0
-- a tied call is ahead when enqueued earlier, or at the same time with a lower uid
local function tied_ahead(members, read_enq)
  local n = 0
  for _, other in ipairs(members) do
    if other ~= uid then
      local e = read_enq and tonumber(redis.call('HGET', P .. 'call:' .. other, 'enq')) or enq
      if e and (e < enq or (e == enq and other < uid)) then n = n + 1 end
    end
  end
  return n
end
local listed = redis.call('ZRANGE', P .. 'wqlines:' .. skill, 0, -1, 'WITHSCORES')
for i = 1, #listed, 2 do
  local key, head = listed[i], tonumber(listed[i + 1])
  local line_lang, class = string.match(key, ':%d+:([^:]+):([^:]+)$')
  if line_lang and (lang == '' or line_lang == lang or line_lang == '*') then
    local _, base = string.match(class, '^([^/]+)/(.+)$')
    if base then
      -- no aging: every call in the line has priority `base`; scored enq_ms (the tie order)
      base = tonumber(base)
      if base > p + EPS then
        ahead = ahead + redis.call('ZCARD', key); counted = counted + 1
      elseif base >= p - EPS and head <= enq then
        ahead = ahead + redis.call('ZCOUNT', key, '-inf', '(' .. num(enq)); counted = counted + 1
        ahead = ahead + tied_ahead(redis.call('ZRANGEBYSCORE', key, num(enq), num(enq), 'LIMIT', 0, TIES), false)
      end
    else
      -- aging rate a: priority a * now_s - score, so a higher priority than p is a score below a * now_s - p
      local cut = tonumber(class) * now / 1000 - p
      if head < cut + EPS then
        ahead = ahead + redis.call('ZCOUNT', key, '-inf', '(' .. num(cut - EPS)); counted = counted + 1
        ahead = ahead + tied_ahead(redis.call('ZRANGEBYSCORE', key, num(cut - EPS), num(cut + EPS), 'LIMIT', 0, TIES), true)
      end
    end
  end
end
return {ahead + 1, counted}
