-- ARGV: rid attempt outcome counts(1/0) → how an attempt ended (answered, busy, no-answer, failed, agent-missed).
-- answered: done (connected). Otherwise, when it counts and attempts are left: `retry` (due again after
-- retry_after); none left: done (failed). An attempt that does not count (the agent missed it, the customer was
-- never rung) takes its number back and stays in line. Returns the request's new state.
local rid, attempt, outcome, counts = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4] == '1'
local key = P .. 'callback:' .. rid
local cb = hash(key)
if cb.state ~= 'dialing' or tonumber(cb.attempts) ~= attempt then return cb.state or '' end
local now = now_ms()
local entry = attempt .. ':' .. outcome
redis.call('HSET', key, 'log', (cb.log ~= '' and cb.log .. ',' or '') .. entry)
local function finish(final)
  redis.call('HSET', key, 'state', 'done', 'outcome', final, 'ended', now)
  redis.call('SREM', P .. 'callbacks', rid)
  redis.call('SREM', P .. 'callbacks:number:' .. cb.number, rid)
  redis.call('ZREM', P .. 'callbacks:due', rid)
  redis.call('EXPIRE', key, 86400)
  return 'done'
end
if outcome == 'answered' then return finish('connected') end
if not counts then
  redis.call('HSET', key, 'state', 'waiting', 'attempts', attempt - 1)
  return 'waiting'
end
if attempt >= tonumber(cb.max_attempts) then return finish('failed') end
redis.call('HSET', key, 'state', 'retry')
redis.call('ZADD', P .. 'callbacks:due', now + tonumber(cb.retry_after_ms), rid)
return 'retry'
