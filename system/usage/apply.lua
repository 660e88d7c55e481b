if ARGV[1] == "1" then
  if redis.call("SET", KEYS[1], "1", "NX", "EX", ARGV[2]) == false then
    return 0
  end
end
local nkeys = #KEYS - 1
local ttlbase = 3
local pairs_at = 3 + nkeys
for i = 2, #KEYS do
  for j = pairs_at, #ARGV, 2 do
    redis.call("HINCRBY", KEYS[i], ARGV[j], ARGV[j+1])
  end
  local ttl = tonumber(ARGV[ttlbase + i - 2])
  if ttl > 0 then
    redis.call("EXPIRE", KEYS[i], ttl)
  end
end
return 1
