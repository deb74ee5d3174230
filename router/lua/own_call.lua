-- ARGV: instance uid → the call belongs to this instance (set before the call is offered, so a crash between the
-- two leaves at most an empty entry); the instance is listed among the owners the reaper looks at
redis.call('SADD', P .. 'owned:' .. ARGV[1], ARGV[2])
redis.call('SADD', P .. 'owners', ARGV[1])
return 1
