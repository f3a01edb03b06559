-- Claim entries left pending by another consumer, with how often each was delivered.
--
-- KEYS[1]  the alert stream
-- ARGV[1]  consumer group name
-- ARGV[2]  consumer that takes the entries over
-- ARGV[3]  minimum idle time in milliseconds
-- ARGV[4]  cursor: the pending-entry id to scan from ("0-0" for the start)
-- ARGV[5]  most entries to claim
--
-- Returns {next_cursor, entries, deliveries}: entries as XAUTOCLAIM gives them
-- ({id, {field, value, ...}}), and deliveries[i] the delivery count of entries[i]
-- after this claim (XAUTOCLAIM increments it but does not return it; XPENDING does).
local claimed = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4],
                           'COUNT', ARGV[5])
local deliveries = {}
for i, entry in ipairs(claimed[2]) do
  local pending = redis.call('XPENDING', KEYS[1], ARGV[1], entry[1], entry[1], 1)
  if pending[1] then
    deliveries[i] = pending[1][4]
  else
    deliveries[i] = 0
  end
end
return {claimed[1], claimed[2], deliveries}
