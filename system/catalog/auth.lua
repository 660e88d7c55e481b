#!lua flags=no-writes
local sid, token, ukey, aid = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
-- The reply is the nine parts packed in one MessagePack string
-- (cmsgpack, C inside Redis): cheaper for Redis than nested arrays, and the
-- listener reads it without boxing every field (catalog/auth.go).
local base = "catalog/service/" .. sid
local svc = redis.call("HMGET", base, "provider_key", "state", "backend_version")
local tok = 0
if token ~= "" then
  tok = redis.call("EXISTS", "catalog/service_token/" .. token .. "/" .. sid)
end
-- Only the fields the listener reads, in this order; without a provider
-- key the service is taken as missing.
if not svc[1] then
  return cmsgpack.pack({{}, tok, "", {}, {}, {}, {}, {}, {}})
end
-- backend_version 1 (as Ruby's to_i reads it) names the application by its
-- user key alone; any other version by app_id alone.
local bv = svc[3] or ""
if tonumber(string.match(bv, "^%s*%+?0*(%d+)") or "") == 1 then
  aid = ""
  if ukey ~= "" then
    local v = redis.call("GET", base .. "/user_key/" .. ukey)
    if v then aid = v end
  end
end
local app, keys, names, parents, limits, use = {}, {}, {}, {}, {}, {}
if aid ~= "" then
  local akey = base .. "/app/" .. aid
  if redis.call("EXISTS", akey) == 1 then
    app = redis.call("HMGET", akey, "state", "plan_id", "plan_name", "redirect_url")
    keys = redis.call("SMEMBERS", akey .. "/keys")
    names = redis.call("HGETALL", base .. "/metric_names")
    parents = redis.call("HGETALL", base .. "/metric_parents")
    local plan = app[2] or ""
    limits = redis.call("HGETALL", base .. "/plan/" .. plan .. "/limits")
    -- Usage is read only in the periods the plan limits: the others are
    -- neither checked nor shown.
    local limited = {}
    for i = 1, #limits, 2 do
      local p = string.match(limits[i], "/([^/]*)$")
      if p then limited[p] = true end
    end
    local ubase = "usage/{service:" .. sid .. "}/app:" .. aid .. "/"
    for i = 5, #ARGV do
      if limited[string.match(ARGV[i], "^[^:]*")] then
        use[#use + 1] = redis.call("HGETALL", ubase .. ARGV[i])
      else
        use[#use + 1] = {}
      end
    end
  end
end
return cmsgpack.pack({svc, tok, aid, app, keys, names, parents, limits, use})
