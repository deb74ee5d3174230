-- ARGV: uid agent ttl_ms wrap_up_ms customer last_agent_s → a routed call's end in one step: the bridged call with
-- `agent` ended (wrap-up, or free and maybe given a waiting call), the agent is remembered as the customer's last
-- (for `last_agent_s` seconds; not when 0 or no customer), and the call leaves routing.
-- Returns {agent state, uid given to the agent or '', uid given to an agent the call still held or ''}
local uid, id = ARGV[1], ARGV[2]
local ttl_ms, wrap_ms = tonumber(ARGV[3]), tonumber(ARGV[4])
local customer, keep_s = ARGV[5], tonumber(ARGV[6])
local now = now_ms()
local state, given = dial_ended(id, uid, now, ttl_ms, wrap_ms)
if customer ~= '' and keep_s > 0 and id ~= '' then
  redis.call('SET', P .. 'last:' .. customer, id, 'EX', keep_s)
end
local other = call_left(uid, now, ttl_ms)
return {state, given, other or ''}
