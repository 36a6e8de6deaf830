-- SPDX-License-Identifier: MIT
-- wrk script: every request is a POST carrying a body of SIZE bytes
-- (wrk -s tools/post.lua URL -- SIZE; default 1024), for upload benchmarks
-- against ringer --mode http --echo-body. With WRK_CHECK set in the
-- environment, each response must be a 200 whose body is exactly the
-- request's; the first that is not is reported on stderr (a check run:
-- wrk then hands every body to Lua, which slows it down).
local size = 1024

init = function(args)
	size = tonumber(args[1]) or size
	local t = {}
	for i = 1, size do
		t[i] = string.char(33 + (i * 7) % 90)
	end
	wrk.method = "POST"
	wrk.body = table.concat(t)
	wrk.headers["Content-Type"] = "application/octet-stream"
end

if os.getenv("WRK_CHECK") then
	local told = false
	response = function(status, headers, body)
		if (status ~= 200 or body ~= wrk.body) and not told then
			told = true
			io.stderr:write(string.format("echo check: status %d, %d body bytes, not %d\n",
				status, #body, #wrk.body))
		end
	end
end
