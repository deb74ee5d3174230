-- ARGV: rid agent expected_attempts → the one atomic step before an origination: waiting → dialing with the
-- attempt counted, only when nobody counted it yet (so a request never rings the customer twice for one attempt,
-- whatever echo or second desk sees the same offer). Returns the attempt number, or 0.
local key = P .. 'callback:' .. ARGV[1]
local cb = fields(key, {'state', 'attempts', 'max_attempts'})
if cb.state ~= 'waiting' or tonumber(cb.attempts) ~= tonumber(ARGV[3]) then return 0 end
if tonumber(cb.attempts) >= tonumber(cb.max_attempts) then return 0 end
local attempt = tonumber(cb.attempts) + 1
redis.call('HSET', key, 'state', 'dialing', 'attempts', attempt, 'agent', ARGV[2], 'dialing_since', now_ms())
return attempt
