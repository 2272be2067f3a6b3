-- wrk script: send N copies of the request in one write and wait for all N answers, as
-- `covetpy bench --pipeline N` does. N is the script argument: wrk ... -s pipeline.lua URL -- 16
local batch

function init(args)
  local depth = tonumber(args[1] or "16")
  batch = string.rep(wrk.format(), depth)
end

function request()
  return batch
end
