local key = KEYS[1]
local epoch = redis.call('GET', KEYS[2]) or ''
local req = cjson.decode(ARGV[1])
local threshold = tonumber(req.threshold)
local snapshot = tonumber(req.snapshot)
local max_fields = tonumber(req.max_fields)
local fields, nfields, last_ts = {}, 0, nil

local function hset_all(list)  -- in chunks: unpack() has a stack limit
  for i = 1, #list, 200 do
    redis.call('HSET', key, unpack(list, i, math.min(i + 199, #list)))
  end
end

local new_epoch = false  -- judged under another service epoch: first contact
if redis.call('EXISTS', key) == 1 then
  local flat = redis.call('HGETALL', key)
  for i = 1, #flat, 2 do fields[flat[i]] = flat[i + 1] end
  nfields = #flat / 2 - 1
  if fields['epoch'] then nfields = nfields - 1 end
  last_ts = tonumber(fields['ts'])
  new_epoch = (fields['epoch'] or '') ~= epoch
elseif req.mode == 'probe' then
  return {'missing'}
elseif type(req.seed) == 'table' then
  local m = req.seed.m
  fields['ts'] = req.seed.ts
  for i = 1, #m, 2 do fields[m[i]] = m[i + 1] end
  nfields = #m / 2
  last_ts = tonumber(req.seed.ts)
  local list = {'ts', req.seed.ts}
  for i = 1, #m do list[#list + 1] = m[i] end
  hset_all(list)
end
fields['epoch'] = epoch

local function moved(old, new)
  if not old then return true end                 -- a metric not seen before
  if old == new then return false end
  if string.sub(old, 1, 1) ~= 'n' or string.sub(new, 1, 1) ~= 'n' then
    return true                                   -- other type, other text or bool
  end
  local ov, nv = tonumber(string.sub(old, 3)), tonumber(string.sub(new, 3))
  if ov == 0 then return nv ~= 0 end
  return math.abs(nv - ov) * 100 > threshold * math.abs(ov)
end

local reasons, snapshots, dirty, reset = {}, {}, {epoch = true}, false
for p = 1, #req.points do
  local point = req.points[p]
  local ts, m = tonumber(point.ts), point.m
  local reason
  if last_ts == nil or new_epoch then
    reason = 'first'
    new_epoch = false
  else
    for i = 1, #m, 2 do
      if moved(fields[m[i]], m[i + 1]) then reason = 'changed'; break end
    end
    if reason == nil and ts - last_ts >= snapshot then reason = 'snapshot' end
  end
  if reason == nil then
    reason = 'filtered'
  elseif last_ts == nil or ts >= last_ts then
    -- The state is the newest stored point merged over older values; a late
    -- point is stored but does not roll the state back.
    local new = 0
    for i = 1, #m, 2 do if not fields[m[i]] then new = new + 1 end end
    if nfields + new > max_fields then
      -- A device inventing metric names without end: restart from this point.
      fields, dirty, nfields, reset = {}, {}, 0, true
    end
    last_ts = ts
    fields['ts'] = point.ts
    dirty['ts'] = true
    for i = 1, #m, 2 do
      if not fields[m[i]] then nfields = nfields + 1 end
      fields[m[i]] = m[i + 1]
      dirty[m[i]] = true
    end
  end
  if reason == 'snapshot' then
    -- The stored row is the device's whole known state with this point over it.
    local whole, seen = {p}, {}
    for i = 1, #m, 2 do
      whole[#whole + 1] = m[i]; whole[#whole + 1] = m[i + 1]; seen[m[i]] = true
    end
    for field, value in pairs(fields) do
      if string.sub(field, 1, 2) == 'm:' and not seen[field] then
        whole[#whole + 1] = field; whole[#whole + 1] = value
      end
    end
    snapshots[#snapshots + 1] = whole
  end
  reasons[p] = reason
end

if reset then redis.call('DEL', key) end
local list = {}
for field in pairs(dirty) do
  list[#list + 1] = field
  list[#list + 1] = fields[field]
end
hset_all(list)
redis.call('EXPIRE', key, tonumber(req.ttl))
return {reasons, snapshots}
