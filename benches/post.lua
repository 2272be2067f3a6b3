-- wrk script: POST a ~1 KB JSON item (the body of benches/apps/post_covetpy.py's Item).
local tags = {}
for i = 1, 40 do tags[#tags + 1] = string.format('"tag-number-%02d"', i) end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"name":"fountain pen","price":12.5,"quantity":3,"description":"'
  .. string.rep("a fine pen ", 27) .. '","tags":[' .. table.concat(tags, ",") .. ']}'
