-- ARGV: uid rid desk number customer lang order max_attempts retry_after_ms not_before_ms
-- → a waiting caller becomes a callback request with the same place: the request `rid` copies the call's routing
-- fields and its ORIGINAL enqueue time, is owned by the callback desk (not the caller's instance), and is in line
-- at once (or scheduled for `not_before`); the caller's call leaves the line. Returns 1 (in line), 2 (scheduled),
-- 0 (the call is no longer waiting: an agent was just reserved for it, or it left).
local uid, rid, desk = ARGV[1], ARGV[2], ARGV[3]
local key = P .. 'call:' .. uid
local call = hash(key)
if call.state ~= 'waiting' then return 0 end
local now = now_ms()
local not_before = tonumber(ARGV[10]) or 0
-- a callback never overflows (it has nowhere else to go): the relaxation steps without their overflow step
local steps = string.gsub(call.steps or '', '[%d%.]+|O|[^;]*;', '')
local cb = P .. 'callback:' .. rid
redis.call('DEL', cb)
redis.call('HSET', cb, 'uid', uid, 'number', ARGV[4], 'customer', ARGV[5], 'lang', ARGV[6], 'order', ARGV[7],
           'max_attempts', ARGV[8], 'retry_after_ms', ARGV[9], 'not_before', not_before, 'created', now,
           'attempts', 0, 'log', '', 'outcome', '', 'agent', '',
           'r_skills', call.skills or '', 'r_steps', steps, 'r_lang', call.lang or '',
           'r_base', call.base or '0', 'r_aging', call.aging or '0', 'r_pref', call.pref or '',
           'r_queue', call.queue or '', 'r_segment', call.segment or '', 'enq', call.enq)
redis.call('SADD', P .. 'callbacks', rid)
redis.call('SADD', P .. 'callbacks:number:' .. ARGV[4], rid)
unqueue(uid, call)
redis.call('HSET', key, 'state', 'left')
explain(uid, now .. ' callback requested: the place in line goes to ' .. rid)
if not_before > now then
  redis.call('HSET', cb, 'state', 'scheduled')
  redis.call('ZADD', P .. 'callbacks:due', not_before, rid)
  return 2
end
redis.call('HSET', cb, 'state', 'waiting')
local line = P .. 'call:' .. rid
redis.call('DEL', line)
redis.call('HSET', line, 'skills', call.skills or '', 'steps', steps, 'lang', call.lang or '',
           'base', call.base or '0', 'aging', call.aging or '0', 'customer', ARGV[5], 'pref', call.pref or '',
           'queue', call.queue or '', 'segment', call.segment or '', 'enq', call.enq, 'state', 'waiting')
redis.call('EXPIRE', line, 86400)
redis.call('SADD', P .. 'owned:' .. desk, rid)
redis.call('SADD', P .. 'owners', desk)
enqueue(rid, hash(line), now)
explain(rid, now .. ' callback in line with the place of ' .. uid)
return 1
