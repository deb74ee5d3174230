-- ARGV: desk holder → the holder stops (a graceful stop): its lease ends now, so the desk's calls are reaped and
-- another instance (or this one restarted) takes the desk over at its next beat instead of after the lease.
-- Returns 1 when the lease was this holder's.
local key = P .. 'owner:' .. ARGV[1]
if redis.call('GET', key) ~= ARGV[2] then return 0 end
redis.call('DEL', key)
return 1
