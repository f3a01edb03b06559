-- Append accepted webhooks to the queue stream, one entry each, refusing those past the mark.
--
-- KEYS[1]     the alert stream
-- ARGV[1]     high-water mark: the most entries (unread plus pending) the stream may hold
-- ARGV[2]     consumer group name
-- ARGV[3..n]  encoded webhooks (codec.encode_webhook), each stored as one entry in its one
--             field "webhook"
--
-- Returns one outcome per webhook, in order: the new entry id; false (nil to the client) when
-- the queue is full, so nothing was written for that webhook; or the error of its XADD.
-- Acknowledged entries are deleted, so XLEN is the unacked depth. When the stream does not
-- exist (first start, or a restart without persistence) the consumer group is created with
-- it, at id 0, so that no entry is ever appended to a stream that has no group to deliver it.
local depth = redis.call('XLEN', KEYS[1])
if depth == 0 and redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[2], '0', 'MKSTREAM')
end
local limit = tonumber(ARGV[1])
local outcomes = {}
for i = 3, #ARGV do
  if depth >= limit then
    outcomes[i - 2] = false
  else
    local id = redis.pcall('XADD', KEYS[1], '*', 'webhook', ARGV[i])
    if type(id) == 'string' then
      depth = depth + 1
    end
    outcomes[i - 2] = id
  end
end
return outcomes
