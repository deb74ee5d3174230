-- ARGV: agent event ttl_ms wrap_up_ms [uid] → ringing | on_call | idle (device not in use) | hold | ended;
-- returns the new state and a call uid given to the agent if it became free (prelude.lua `device_event`)
local state, given = device_event(ARGV[1], ARGV[2], nil, tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5])
return {state, given}
