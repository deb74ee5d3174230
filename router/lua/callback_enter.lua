-- ARGV: rid desk → a pending request joins the line again with its ORIGINAL enqueue time: a scheduled one whose
-- time came, one whose retry is due, or every pending one when a desk takes over (after a restart; its earlier
-- calls were reaped). Returns 1 (in line), 0 (not pending: done, or being dialled), 2 (already in line).
local rid, desk = ARGV[1], ARGV[2]
local cb = hash(P .. 'callback:' .. rid)
if cb.state ~= 'waiting' and cb.state ~= 'scheduled' and cb.state ~= 'retry' then return 0 end
local line = P .. 'call:' .. rid
local now = now_ms()
if tonumber(cb.not_before or '0') > now then return 0 end
redis.call('ZREM', P .. 'callbacks:due', rid)
local state = redis.call('HGET', line, 'state')
redis.call('SADD', P .. 'owned:' .. desk, rid)
redis.call('SADD', P .. 'owners', desk)
redis.call('HSET', P .. 'callback:' .. rid, 'state', 'waiting')
if state == 'waiting' or state == 'offered' then return 2 end
redis.call('DEL', line)
redis.call('HSET', line, 'skills', cb.r_skills, 'steps', cb.r_steps, 'lang', cb.r_lang, 'base', cb.r_base,
           'aging', cb.r_aging, 'customer', cb.customer, 'pref', cb.r_pref, 'queue', cb.r_queue,
           'segment', cb.r_segment, 'enq', cb.enq, 'state', 'waiting')
redis.call('EXPIRE', line, 86400)
enqueue(rid, hash(line), now)
explain(rid, now .. ' callback back in line (enqueued ' .. cb.enq .. ')')
return 1
