-- ARGV: ttl_ms wrap_up_ms, then (agent, event) pairs, at most 200 (router/device_batch.py), each event ringing |
-- on_call | idle as agent_device.lua applies it, in order, on one clock. Returns {state1, uid1, state2, uid2, ...}:
-- each agent's new state and a call uid given to it if it became free ('' when none)
local ttl_ms, wrap_ms = tonumber(ARGV[1]), tonumber(ARGV[2])
local now = now_ms()
local out = {}
for i = 3, #ARGV - 1, 2 do
  local state, given = device_event(ARGV[i], ARGV[i + 1], now, ttl_ms, wrap_ms, '')
  out[#out + 1] = state
  out[#out + 1] = given
end
return out
